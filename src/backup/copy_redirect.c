/*
 * copy_redirect.c: COPY TO STDOUT into a function of ours.
 *
 * PostgreSQL 15's BeginCopyTo has no data callback (that arrived in 16),
 * so the COPY runs "TO STDOUT" with the backend's protocol output
 * redirected, for the duration of the COPY, to a PQcommMethods of ours: the
 * mechanism parallel workers use to send their output to a shm_mq.
 * CopyData messages go to the function; every other message (a NOTICE)
 * goes where it went before: the client, or a parallel worker's leader.
 */
#include "core/mekatek.h"

#include "libpq/libpq.h"
#include "tcop/tcopprot.h"

#include "backup/s3_copy.h"

/* The COPY output has no argument to carry us: one redirection at a time. */
static MkCopyRedirect *current = NULL;

static int
redirect_putmessage(char msgtype, const char *s, size_t len)
{
	if (msgtype == 'd')
	{
		current->fn(current->arg, s, (int) len);
		return 0;
	}
	if (msgtype == 'H' || msgtype == 'c')
		return 0;				/* CopyOutResponse, CopyDone: ours */
	if (current->saved_dest == DestRemote)
		return current->saved_methods->putmessage(msgtype, s, len);
	return 0;
}

static void
redirect_putmessage_noblock(char msgtype, const char *s, size_t len)
{
	if (current->saved_dest == DestRemote)
		current->saved_methods->putmessage_noblock(msgtype, s, len);
}

static void
redirect_comm_reset(void)
{
	if (current->saved_dest == DestRemote)
		current->saved_methods->comm_reset();
}

static int
redirect_flush(void)
{
	return current->saved_dest == DestRemote ? current->saved_methods->flush() : 0;
}

static int
redirect_flush_if_writable(void)
{
	return current->saved_dest == DestRemote ? current->saved_methods->flush_if_writable() : 0;
}

static bool
redirect_is_send_pending(void)
{
	return current->saved_dest == DestRemote ? current->saved_methods->is_send_pending() : false;
}

static const PQcommMethods redirect_methods = {
	redirect_comm_reset,
	redirect_flush,
	redirect_flush_if_writable,
	redirect_is_send_pending,
	redirect_putmessage,
	redirect_putmessage_noblock
};

void
mk_copy_redirect_on(MkCopyRedirect *r, MkBytesFn fn, void *arg)
{
	Assert(current == NULL);
	r->fn = fn;
	r->arg = arg;
	r->saved_methods = PqCommMethods;
	r->saved_dest = whereToSendOutput;
	current = r;
	PqCommMethods = &redirect_methods;
	/* COPY TO STDOUT only speaks the protocol when the output is remote. */
	whereToSendOutput = DestRemote;
	r->on = true;
}

void
mk_copy_redirect_off(MkCopyRedirect *r)
{
	if (!r->on)
		return;
	PqCommMethods = r->saved_methods;
	whereToSendOutput = r->saved_dest;
	r->on = false;
	current = NULL;
}
