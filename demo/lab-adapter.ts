// The demo's view of the one-machine lab (lab-port.ts), implemented with the lab's TypeScript API.
import type { DemoLab, LabUpOptions } from './lab-port.js';

export class LabUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabUnavailableError';
  }
}

export async function bringUpLab(_opts: LabUpOptions): Promise<DemoLab> {
  throw new LabUnavailableError('the one-machine lab (lab/) is not part of this build yet');
}
