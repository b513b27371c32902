#include "spec.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "outpath.h"

#define SPEC_MAX_SIDE 65535u

const char *const thumb_fit_names[THUMB_FIT_N] = {
	[THUMB_FIT_CONTAIN] = "contain",
	[THUMB_FIT_COVER] = "cover",
};

const char *const thumb_detail_names[THUMB_DETAIL_N] = {
	[THUMB_DETAIL_FAST] = "fast",
	[THUMB_DETAIL_FINE] = "fine",
	[THUMB_DETAIL_AUTO] = "auto",
};

int spec_name_index(const char *const *names, uint32_t n, const char *s,
		bool icase)
{
	for (uint32_t i = 0; i < n; i++) {
		if ((icase ? strcasecmp(s, names[i]) : strcmp(s, names[i])) == 0) {
			return (int)i;
		}
	}
	return -1;
}

void spec_init_default(struct thumb_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->sizes[0].width = THUMB_DEFAULT_SIZE;
	spec->sizes[0].height = THUMB_DEFAULT_SIZE;
	spec->n_sizes = 1;
	spec->formats = THUMB_FORMAT_JPEG;
	spec->quality = THUMB_DEFAULT_QUALITY;
	spec->fit = THUMB_FIT_CONTAIN;
	spec->detail = THUMB_DETAIL_AUTO;
	/* the template is a compile-time constant well below THUMB_NAME_MAX */
	memcpy(spec->name, THUMB_DEFAULT_NAME, sizeof(THUMB_DEFAULT_NAME));
	spec->limits.max_pixels = THUMB_DEFAULT_MAX_PIXELS;
	spec->limits.max_file_size = THUMB_DEFAULT_MAX_FILE_SIZE;
	spec->limits.max_memory = THUMB_DEFAULT_MAX_MEMORY;
	spec->limits.max_scans = THUMB_DEFAULT_MAX_SCANS;
}

/*
 * Two outputs of one job share a name when the template cannot tell them
 * apart: several formats need {ext}; several sizes need {size}, or {w}
 * and {h} when the boxes differ in those, and two equal boxes always
 * collide (they would also be wasted work).
 */
static int spec_check_names(const struct thumb_spec *spec, const char **why)
{
	bool has_ext = strstr(spec->name, "{ext}") != NULL;
	bool has_size = strstr(spec->name, "{size}") != NULL;
	bool has_w = strstr(spec->name, "{w}") != NULL;
	bool has_h = strstr(spec->name, "{h}") != NULL;

	if ((spec->formats & THUMB_FORMAT_JPEG) &&
			(spec->formats & THUMB_FORMAT_WEBP) && !has_ext) {
		*why = "the name template needs {ext} when both jpeg and webp are made";
		return -EINVAL;
	}
	for (uint32_t i = 0; i < spec->n_sizes; i++) {
		for (uint32_t j = i + 1; j < spec->n_sizes; j++) {
			const struct thumb_size *a = &spec->sizes[i];
			const struct thumb_size *b = &spec->sizes[j];
			bool same_w = a->width == b->width;
			bool same_h = a->height == b->height;
			if (same_w && same_h) {
				*why = "the same size is listed twice";
				return -EINVAL;
			}
			if (has_size || (has_w && !same_w) || (has_h && !same_h)) {
				continue;
			}
			*why = "the name template needs {size} when several sizes are made";
			return -EINVAL;
		}
	}
	return 0;
}

int spec_validate(const struct thumb_spec *spec, const char **why)
{
	const char *r = NULL;

	if (spec->n_sizes == 0) {
		r = "no size given";
	} else if (spec->n_sizes > THUMB_MAX_SIZES) {
		r = "too many sizes (at most 8)";
	} else if (spec->formats == 0) {
		r = "no output format given";
	} else if (spec->formats & ~(uint32_t)(THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP)) {
		r = "unknown output format";
	} else if (spec->quality < 1 || spec->quality > 100) {
		r = "quality must be 1-100";
	} else if (spec->fit >= THUMB_FIT_N) {
		r = "fit must be contain or cover";
	} else if (spec->detail >= THUMB_DETAIL_N) {
		r = "detail must be fast, fine or auto";
	} else if (memchr(spec->name, '\0', sizeof(spec->name)) == NULL) {
		r = "the name template is too long";
	} else if (spec->limits.max_pixels == 0 ||
			spec->limits.max_file_size == 0) {
		r = "max_pixels and max_file_size must be above 0";
	}
	for (uint32_t i = 0; !r && i < spec->n_sizes; i++) {
		const struct thumb_size *s = &spec->sizes[i];
		if (s->width < 1 || s->width > SPEC_MAX_SIDE ||
				s->height < 1 || s->height > SPEC_MAX_SIDE) {
			r = "sizes must be 1-65535 pixels";
		}
	}
	if (r) {
		*why = r;
		return -EINVAL;
	}
	if (outpath_check_template(spec->name, &r) < 0) {
		*why = r;
		return -EINVAL;
	}
	return spec_check_names(spec, why);
}
