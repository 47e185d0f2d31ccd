/*
 * fuzz_request.c - libFuzzer target for the gateway's request parsing and
 * validation (gateway/body.c): any bytes as a /predict or /update body must
 * be accepted with consistent results or refused with 400 or 422, never
 * crash, read out of bounds or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../gateway/body.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The body as the HTTP layer hands it over: a writable copy followed by NUL. */
static char *
body_copy(const uint8_t *data, size_t size)
{
	char	   *body = malloc(size + 1);

	if (body == NULL)
		abort();
	memcpy(body, data, size);
	body[size] = '\0';
	return body;
}

static void
check_status(unsigned status)
{
	if (status != 0 && status != 400 && status != 422)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		msg[BODY_ERROR_SIZE];
	bool		has_id = false;
	char	   *body = body_copy(data, size);
	predict_body p;
	update_body u;
	unsigned	status;
	int64_t		n;

	status = parse_predict_body(body, size, &p, &has_id, msg, sizeof(msg));
	check_status(status);
	if (status == 0)
	{
		/* what reaches the database: a JSON object inside the body, UTF-8 */
		cJSON	   *obs;

		if (p.observation < body || p.observation + p.observation_len > body + size ||
			!valid_utf8(p.observation, p.observation_len))
			abort();
		obs = cJSON_ParseWithLength(p.observation, p.observation_len);
		if (!cJSON_IsObject(obs))
			abort();
		cJSON_Delete(obs);
	}
	else if (memchr(msg, '\0', sizeof(msg)) == NULL)
		abort();
	free(body);

	body = body_copy(data, size);
	status = parse_update_body(body, size, &u, &has_id, msg, sizeof(msg));
	check_status(status);
	if (status == 0 && u.true_class != 0 && u.true_class != 1)
		abort();
	free(body);

	(void) parse_int64((const char *) data, size, &n);
	(void) valid_utf8((const char *) data, size);
	return 0;
}
