// Bundled by scripts/ensure-node-clients.sh (esbuild) into build/analytics-next.js, the one file the browser tests
// serve: Segment's browser library as a site installs it from npm, exposed as window.AnalyticsBrowser.
import { AnalyticsBrowser } from '@segment/analytics-next'

window.AnalyticsBrowser = AnalyticsBrowser
