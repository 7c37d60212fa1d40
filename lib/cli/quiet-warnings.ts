/**
 * Imported first by the CLI entry. The AWS SDK prints, on every start under Node 20, that its
 * 2027 releases will need Node 22; the kit supports Node 20 today (see the README), and the
 * notice would drown the CLI's own output. The SDK's own switch turns it off; a user's explicit
 * setting wins.
 */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

export {};
