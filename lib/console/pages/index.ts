/**
 * Every page of the console, in nav order. A page is a module `pages/<id>.tsx` exporting a
 * component that takes {@link PageProps}; adding one is a file and a line here.
 */
import { ExperimentsPage } from './experiments';
import { FeaturesPage } from './features';
import { ModelsPage } from './models';
import { PipelinesPage } from './pipelines';
import { ServingPage } from './serving';
import type { PageModule } from './types';

export type { PageModule, PageProps } from './types';

export const PAGES: readonly PageModule[] = [
  { id: 'pipelines', title: 'Pipelines', component: PipelinesPage },
  { id: 'experiments', title: 'Experiments', component: ExperimentsPage },
  { id: 'models', title: 'Models', component: ModelsPage },
  { id: 'features', title: 'Features', component: FeaturesPage },
  { id: 'serving', title: 'Serving', component: ServingPage },
];

/** The page the bare URL opens. */
export const LANDING_PAGE = 'pipelines';
