/** The console's entry: read where the endpoints are, then render. */
import { render } from 'preact';
import { loadConfig } from './api/config';
import { App } from './app';
import './styles.css';

const root = document.getElementById('app')!;
loadConfig().then(
  () => render(<App />, root),
  (e: Error) => {
    root.textContent = `The console could not start: ${e.message}`;
    root.setAttribute('role', 'alert');
  },
);
