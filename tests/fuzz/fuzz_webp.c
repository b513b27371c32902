/* WebP decode (still and animated first frame), then one resize. */
#include <stdlib.h>

#include "decode.h"
#include "geometry.h"
#include "resize.h"
#include "fuzz_main.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct resizer *rs;
	static struct image img, out;
	struct thumb_spec spec;
	struct decode_info info;
	char err[256];

	if (!rs && !(rs = resizer_create())) {
		abort();
	}
	spec_init_default(&spec);
	spec.limits.max_pixels = 16u << 20;
	if (webp_decode(data, size, &spec, &img, &info, err, sizeof(err)) < 0) {
		return 0;
	}
	uint32_t w, h;
	geometry_fit(img.width, img.height, spec.sizes[0], THUMB_FIT_COVER, &w,
		&h);
	resizer_run(rs, &img, &out, w, h);
	return 0;
}
