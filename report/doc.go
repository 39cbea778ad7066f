// Package report aggregates the results of rebuilding many bundles into a
// reproducibility report: how many bundles reproduced, differ, were not
// built or did not verify, overall and by builder platform; which outputs
// differ, in which bundles and files; and which inputs (manifest leaves)
// the bundles with a differing output share, ranked by how many of them
// hold each and how few reproduced bundles do.
//
// The results come from rebuilding the bundles (Rebuild, with the rebuild
// package; LogBundles lists the bundles of a transparency log) or from
// saved `kettle rebuild --json` output (ReadResults, DecodeResults, which
// refuse anything a rebuild would not have written). LoadInputs pairs them
// with their bundles' manifest leaves, Build makes the Report, and the
// report is written as a table for a terminal (WriteTable), as JSON (the
// Report's own tags, version Version) or as one self-contained HTML page
// with an inline SVG chart (HTML, WriteHTML). Build sorts everything, so
// the same results give the same report and the same bytes.
package report
