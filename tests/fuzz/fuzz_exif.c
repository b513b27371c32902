/* The EXIF parser must stay inside its buffer and always answer 1-8. */
#include <stdlib.h>

#include "exif.h"
#include "fuzz_main.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* copy so ASan sees the exact end of the buffer */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy) {
		return 0;
	}
	for (size_t i = 0; i < size; i++) {
		copy[i] = data[i];
	}
	int o = exif_orientation(copy, size);
	free(copy);
	if (o < 1 || o > 8) {
		abort();
	}
	return 0;
}
