/* Format sniffing from content: real files made by the tools, and
 * hand-made headers for the edge cases. */
#include "sniff.h"
#include "testlib.h"

static void check_file(const char *name, enum sniff_format want)
{
	size_t len = 0;
	uint8_t *data = tl_read(tl_path("%s", name), &len);
	if (!data) {
		fprintf(stderr, "cannot read %s\n", name);
		exit(1);
	}
	enum sniff_format got = sniff_format(data, len);
	if (got != want) {
		fprintf(stderr, "%s: sniffed %s, expected %s\n", name,
			sniff_name(got), sniff_name(want));
		exit(1);
	}
	free(data);
}

static void test_tools(void)
{
	TL_SH_OK("convert -size 40x30 gradient:red-blue -depth 8 src.ppm");
	TL_SH_OK("cjpeg src.ppm > a.jpg");
	TL_SH_OK("cjpeg -progressive src.ppm > p.jpg");
	TL_SH_OK("cwebp -quiet src.ppm -o a.webp");
	TL_SH_OK("cwebp -quiet -lossless src.ppm -o l.webp");
	TL_SH_OK("convert src.ppm a.png && convert src.ppm a.gif");
	TL_SH_OK("convert src.ppm a.tif && convert src.ppm -define "
		"tiff:endian=msb b.tif");
	TL_SH_OK("convert src.ppm a.bmp && convert src.ppm bmp2:b.bmp");
	check_file("a.jpg", SNIFF_JPEG);
	check_file("p.jpg", SNIFF_JPEG);
	check_file("a.webp", SNIFF_WEBP);
	check_file("l.webp", SNIFF_WEBP);
	check_file("a.png", SNIFF_PNG);
	check_file("a.gif", SNIFF_GIF);
	check_file("a.tif", SNIFF_TIFF);
	check_file("b.tif", SNIFF_TIFF);
	check_file("a.bmp", SNIFF_BMP);
	check_file("b.bmp", SNIFF_BMP);
	check_file("src.ppm", SNIFF_UNKNOWN);
	/* ImageMagick has HEIF and AVIF only when built with libheif */
	if (tl_sh("convert src.ppm a.heic 2>/dev/null") == 0) {
		check_file("a.heic", SNIFF_HEIF);
	}
	if (tl_sh("convert src.ppm a.avif 2>/dev/null") == 0) {
		check_file("a.avif", SNIFF_AVIF);
	}
}

struct bytes_case {
	const char *what;
	const char *data;
	size_t len;
	enum sniff_format want;
};

#define B(s) s, sizeof(s) - 1

static const struct bytes_case bytes_cases[] = {
	{ "empty", B(""), SNIFF_UNKNOWN },
	{ "jpeg soi only", B("\xff\xd8"), SNIFF_UNKNOWN },
	{ "jpeg", B("\xff\xd8\xff\xe0"), SNIFF_JPEG },
	{ "junk before soi", B("x\xff\xd8\xff\xe0"), SNIFF_UNKNOWN },
	{ "riff wave", B("RIFF\x10\0\0\0WAVEfmt "), SNIFF_UNKNOWN },
	{ "riff webp", B("RIFF\x10\0\0\0WEBPVP8 "), SNIFF_WEBP },
	{ "short riff", B("RIFF\x10\0\0\0WEB"), SNIFF_UNKNOWN },
	{ "png", B("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), SNIFF_PNG },
	{ "png mangled by text mode", B("\x89PNG\n\x1a\n\0"), SNIFF_UNKNOWN },
	{ "gif87", B("GIF87a"), SNIFF_GIF },
	{ "gif90", B("GIF90a"), SNIFF_UNKNOWN },
	{ "tiff le", B("II*\0\x08\0\0\0"), SNIFF_TIFF },
	{ "tiff be", B("MM\0*\0\0\0\x08"), SNIFF_TIFF },
	{ "bigtiff", B("II+\0\x08\0\0\0"), SNIFF_TIFF },
	{ "bmp v3", B("BM\x36\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0"), SNIFF_BMP },
	{ "text starting BM", B("BMW owners club\n\n\n"), SNIFF_UNKNOWN },
	{ "heic", B("\0\0\0\x18" "ftypheic\0\0\0\0mif1heic"), SNIFF_HEIF },
	{ "avif", B("\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf"), SNIFF_AVIF },
	/* AVIF said only in the compatible brands */
	{ "avif compat", B("\0\0\0\x18" "ftypmif1\0\0\0\0mif1avif"),
		SNIFF_AVIF },
	/* a brand past the box's own size does not count */
	{ "avif outside box", B("\0\0\0\x10" "ftypmif1\0\0\0\0avif"),
		SNIFF_HEIF },
	{ "mp4", B("\0\0\0\x18" "ftypisom\0\0\0\0isomiso2"), SNIFF_UNKNOWN },
	{ "ftyp truncated", B("\0\0\0\x18" "ftypav"), SNIFF_UNKNOWN },
	{ "jxl codestream", B("\xff\x0a\xfa\x1f"), SNIFF_JXL },
	{ "jxl container", B("\0\0\0\x0cJXL \r\n\x87\n\0\0\0\x14" "ftypjxl "),
		SNIFF_JXL },
	{ "text", B("hello, world\n"), SNIFF_UNKNOWN },
};

static void test_bytes(void)
{
	for (size_t i = 0; i < sizeof(bytes_cases) / sizeof(bytes_cases[0]);
			i++) {
		const struct bytes_case *c = &bytes_cases[i];
		/* an exact-size copy so a read past the end is caught by ASan */
		uint8_t *copy = malloc(c->len ? c->len : 1);
		CHECK(copy);
		memcpy(copy, c->data, c->len);
		enum sniff_format got = sniff_format(copy, c->len);
		if (got != c->want) {
			fprintf(stderr, "%s: sniffed %s, expected %s\n", c->what,
				sniff_name(got), sniff_name(c->want));
			exit(1);
		}
		free(copy);
	}
	CHECK(sniff_format(NULL, 0) == SNIFF_UNKNOWN);
}

static void test_names(void)
{
	CHECK(strcmp(sniff_name(SNIFF_JPEG), "JPEG") == 0);
	CHECK(strcmp(sniff_name(SNIFF_WEBP), "WebP") == 0);
	CHECK(strcmp(sniff_name(SNIFF_PNG), "PNG") == 0);
	CHECK(strcmp(sniff_name(SNIFF_GIF), "GIF") == 0);
	CHECK(strcmp(sniff_name(SNIFF_TIFF), "TIFF") == 0);
	CHECK(strcmp(sniff_name(SNIFF_BMP), "BMP") == 0);
	CHECK(strcmp(sniff_name(SNIFF_HEIF), "HEIF") == 0);
	CHECK(strcmp(sniff_name(SNIFF_AVIF), "AVIF") == 0);
	CHECK(strcmp(sniff_name(SNIFF_JXL), "JPEG XL") == 0);
	CHECK(strcmp(sniff_name(SNIFF_UNKNOWN), "unknown") == 0);
	CHECK(strcmp(sniff_name((enum sniff_format)99), "unknown") == 0);
}

int main(void)
{
	test_bytes();
	test_names();
	test_tools();
	return 0;
}
