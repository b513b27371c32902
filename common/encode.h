#ifndef THUMBD_COMMON_ENCODE_H
#define THUMBD_COMMON_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "spec.h"

struct encoder;

/* An encoder keeps its libjpeg state and output buffer between calls. */
struct encoder *encoder_create(void);
void encoder_destroy(struct encoder *enc);

/*
 * Encode @img as @format. The bytes stay valid in *@out until the next call.
 * JPEG from RGBA is composited on white. No metadata is written.
 * Returns 0 or a negative errno with a reason in @err.
 */
int encoder_run(struct encoder *enc, const struct image *img,
		enum thumb_format format, const struct thumb_spec *spec,
		const uint8_t **out, size_t *out_len, char *err, size_t errlen);

/*
 * A 4:2:0 JPEG straight from planes: @ycc[0] is Y (w x h), @ycc[1] and
 * @ycc[2] are Cb and Cr at ((w + 1) / 2 x (h + 1) / 2), one channel each.
 * No colour conversion or downsampling runs. Errors as encoder_run();
 * -EINVAL also for planes of other sizes.
 */
int encoder_run_ycc(struct encoder *enc, const struct image *ycc,
		const struct thumb_spec *spec, const uint8_t **out,
		size_t *out_len, char *err, size_t errlen);

#endif
