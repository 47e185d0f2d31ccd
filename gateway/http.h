/*
 * http.h - the HTTP layer: routing, request bodies, authentication,
 * responses, access log and metrics, on libmicrohttpd. It knows the backend
 * only through backend.h.
 */
#ifndef GATEWAY_HTTP_H
#define GATEWAY_HTTP_H

#include <microhttpd.h>

#include "backend.h"
#include "config.h"

/* What the handlers need; one per daemon, shared read-only by the workers. */
typedef struct http_context
{
	const gateway_config *cfg;
	const backend_ops *backend;
} http_context;

/* The MHD_AccessHandlerCallback (cls is the http_context). */
enum MHD_Result http_handle(void *cls, struct MHD_Connection *connection,
							const char *url, const char *method, const char *version,
							const char *upload_data, size_t *upload_data_size,
							void **con_cls);

/* The MHD_RequestCompletedCallback: frees the request's state. */
void		http_request_completed(void *cls, struct MHD_Connection *connection,
								   void **con_cls, enum MHD_RequestTerminationCode toe);

/* From now on every response closes its connection (graceful shutdown). */
void		http_start_draining(void);

/*
 * The MHD_NotifyConnectionCallback of each worker daemon (cls is its
 * worker): tracks each connection for the request deadline, and reports
 * closed connections to the listener's counts.
 */
void		http_connection_notify(void *cls, struct MHD_Connection *connection,
								   void **socket_context,
								   enum MHD_ConnectionNotificationCode toe);

/* Open HTTP connections. */
long		http_connection_count(void);

#endif							/* GATEWAY_HTTP_H */
