/*
 * report_page.h - the monitoring page (GET /): a report document
 * (predict_report()'s JSON, docs/monitoring.md) drawn as one HTML page with
 * its charts as inline SVG, drawn here: no script, no style sheet or font
 * to fetch, nothing the page needs from the network.
 */
#ifndef GATEWAY_REPORT_PAGE_H
#define GATEWAY_REPORT_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/*
 * Append the page of the report json[0..len) to out; days is the window the
 * page was asked for (?days=N), 0 for since/until or everything. False (out
 * untouched but for a failed flag) when the text is not a report document.
 */
bool		report_page_render(const char *json, size_t len, int days, strbuf *out);

#endif							/* GATEWAY_REPORT_PAGE_H */
