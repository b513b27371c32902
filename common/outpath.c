#include "outpath.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum outpath_field {
	OUTPATH_STEM,
	OUTPATH_SIZE,
	OUTPATH_W,
	OUTPATH_H,
	OUTPATH_EXT,
	OUTPATH_NAME,
	OUTPATH_NFIELDS,
};

static const char *const outpath_fields[OUTPATH_NFIELDS] = {
	"stem", "size", "w", "h", "ext", "name",
};

/*
 * The field named by the "{...}" at @p, or -1. *@len gets the length of
 * the whole "{...}" so the caller can step over it.
 */
static int outpath_field_at(const char *p, size_t *len)
{
	const char *end = strchr(p, '}');

	if (!end) {
		return -1;
	}
	size_t n = (size_t)(end - p - 1);
	for (int f = 0; f < OUTPATH_NFIELDS; f++) {
		if (strlen(outpath_fields[f]) == n &&
				memcmp(p + 1, outpath_fields[f], n) == 0) {
			*len = n + 2;
			return f;
		}
	}
	return -1;
}

int outpath_check_template(const char *tmpl, const char **why)
{
	bool distinct = false;
	const char *r = NULL;

	if (!tmpl || !*tmpl) {
		r = "the name template is empty";
	} else if (strchr(tmpl, '/')) {
		r = "the name template must not contain '/'";
	} else if (tmpl[0] == '.') {
		/* hidden outputs would be skipped by scans and look like temps */
		r = "the name template must not start with '.'";
	}
	for (const char *p = tmpl; !r && *p;) {
		size_t len;
		int f;
		if (*p == '}') {
			r = "unmatched '}' in the name template";
			break;
		}
		if (*p != '{') {
			p++;
			continue;
		}
		f = outpath_field_at(p, &len);
		if (f < 0) {
			r = "unknown field in the name template (known: {stem} {size} {w} {h} {ext} {name})";
			break;
		}
		if (f == OUTPATH_EXT || f == OUTPATH_SIZE) {
			distinct = true;
		}
		p += len;
	}
	if (!r && !distinct) {
		r = "the name template needs {ext} or {size}";
	}
	if (r) {
		*why = r;
		return -EINVAL;
	}
	return 0;
}

const char *outpath_ext(enum thumb_format format)
{
	return format == THUMB_FORMAT_WEBP ? "webp" : "jpg";
}

/* Append @n bytes of @s at *@o in @buf; false once it does not fit. */
static bool outpath_put(char *buf, size_t cap, size_t *o, const char *s,
		size_t n)
{
	if (n >= cap - *o) {
		return false;
	}
	memcpy(buf + *o, s, n);
	*o += n;
	return true;
}

/*
 * The text of field @f. Numbers go into @num (caller's, at least 24
 * bytes) so no static buffer is needed.
 */
static size_t outpath_field_text(int f, const char *base, struct thumb_size size,
		enum thumb_format format, char *num, const char **text)
{
	const char *dot = strrchr(base, '.');

	switch (f) {
	case OUTPATH_STEM:
		/* a leading dot starts a hidden name, not an extension */
		*text = base;
		return dot && dot != base ? (size_t)(dot - base) : strlen(base);
	case OUTPATH_SIZE:
		*text = num;
		if (size.width == size.height) {
			return (size_t)snprintf(num, 24, "%u", size.width);
		}
		return (size_t)snprintf(num, 24, "%ux%u", size.width, size.height);
	case OUTPATH_W:
		*text = num;
		return (size_t)snprintf(num, 24, "%u", size.width);
	case OUTPATH_H:
		*text = num;
		return (size_t)snprintf(num, 24, "%u", size.height);
	case OUTPATH_EXT:
		*text = outpath_ext(format);
		return strlen(*text);
	default:
		*text = base;
		return strlen(base);
	}
}

/*
 * Unknown "{...}" is copied literally: outpath_check_template() refuses
 * such templates, and copying beats failing a job on a config that was
 * validated elsewhere. The name is built in a local buffer so @buf is
 * untouched on failure; a result over NAME_MAX is -ENAMETOOLONG whatever
 * @cap is, since no file system would take it.
 */
int outpath_name(const char *tmpl, const char *base, struct thumb_size size,
		enum thumb_format format, char *buf, size_t cap)
{
	char tmp[NAME_MAX + 1];
	char num[24];
	size_t o = 0;

	for (const char *p = tmpl; *p;) {
		const char *text;
		size_t len, n;
		int f = *p == '{' ? outpath_field_at(p, &len) : -1;
		if (f < 0) {
			n = strcspn(p + 1, "{") + 1;
			if (!outpath_put(tmp, sizeof(tmp), &o, p, n)) {
				return -ENAMETOOLONG;
			}
			p += n;
			continue;
		}
		n = outpath_field_text(f, base, size, format, num, &text);
		if (!outpath_put(tmp, sizeof(tmp), &o, text, n)) {
			return -ENAMETOOLONG;
		}
		p += len;
	}
	if (o >= cap) {
		return -ENAMETOOLONG;
	}
	memcpy(buf, tmp, o);
	buf[o] = '\0';
	return (int)o;
}

int outpath_rel(const struct thumb_spec *spec, const char *rel,
		uint32_t size_index, enum thumb_format format, char *buf,
		size_t cap)
{
	const char *slash = strrchr(rel, '/');
	size_t dlen = slash ? (size_t)(slash - rel) + 1 : 0;
	int n;

	if (size_index >= spec->n_sizes || size_index >= THUMB_MAX_SIZES) {
		return -EINVAL;
	}
	if (dlen >= cap) {
		return -ENAMETOOLONG;
	}
	n = outpath_name(spec->name, rel + dlen, spec->sizes[size_index],
		format, buf + dlen, cap - dlen);
	if (n < 0) {
		return n;
	}
	memcpy(buf, rel, dlen);
	if ((size_t)n + dlen > INT_MAX) {
		return -ENAMETOOLONG;
	}
	return (int)((size_t)n + dlen);
}
