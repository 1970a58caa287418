/*
 * settings.c: the survey module's initialiser and its memory bound.
 */
#include "core/mekatek.h"
#include "survey/survey.h"

#include "utils/guc.h"

int			mk_survey_work_mem = 256 * 1024;

Size
survey_work_mem_bytes(void)
{
	return (Size) mk_survey_work_mem * 1024;
}

void
mk_survey_init(void)
{
	DefineCustomIntVariable("mekatek.survey_work_mem",
							"Memory one k-means or silhouette run may use for its points.",
							"Past it, the run stops with an error naming the bytes it needed.",
							&mk_survey_work_mem,
							256 * 1024, 1024, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}
