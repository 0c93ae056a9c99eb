// Package browser holds the tests that look at cellpay in a real headless
// browser (Chromium from Debian's packages): the router's status page
// (router/statuspage) against a running in-process cluster, through a
// failover, with a reference screenshot in testdata/. It lives under chaos
// because it drives a whole cluster (chaos/cluster); production code never
// imports it.
//
// Callers' duties: install chromium (.ci/run does); without it the tests
// skip, except with CI=true, where they fail.
package browser
