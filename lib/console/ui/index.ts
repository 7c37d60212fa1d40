/** The console's shared UI pieces. */
export { BarChart, type Bar, LineChart, type LineSeries, SERIES_COLOURS } from './chart';
export { ConfirmDialog } from './confirm-dialog';
export { EmptyState } from './empty-state';
export { ErrorBanner } from './error-banner';
export { arnName, formatDuration, formatTime } from './format';
export { JsonView } from './json-view';
export { StatusBadge, statusTone } from './status-badge';
export { type Column, Table } from './table';
export { type Resource, useResource } from './use-resource';
