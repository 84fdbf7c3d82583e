import { afterAll } from 'vitest';
import { removeTestModels } from './helpers/model.js';

// Each test file's models live in the system's temp folder only while its tests run.
afterAll(removeTestModels);
