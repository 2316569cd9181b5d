// The sandbox image the containerd tests import (images/pause/build.ts builds it).
export { buildPauseImage, PAUSE_IMAGE } from '../../images/pause/build.js';
