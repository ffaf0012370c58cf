/**
 * Puppeteer's install script (pulled in by memlab, used in t2_memory_storage_optimization/03-leak-detection) would
 * download Chrome on every `npm ci`. The lab only parses Node heap snapshots with memlab and never starts a browser,
 * so no browser is downloaded: this file is found by puppeteer's config search from node_modules/puppeteer upwards,
 * whatever npm version runs the install (npm >= 11 also skips the script itself: package.json "allowScripts").
 */
module.exports = { skipDownload: true };
