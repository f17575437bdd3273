/*
 * tests/fuzz/fuzz_parsers.c — libFuzzer targets for every parser of untrusted files.
 *
 * One source, one target per FUZZ_TARGET value (the Makefile's `make fuzz` builds them all with
 * clang -fsanitize=fuzzer,address,undefined):
 *   1 gzip (data/inflate.h)      2 raw DEFLATE       3 IDX (data/idx.h)
 *   4 PPM/PGM (data/image_io.h)  5 safetensors       6 ustar (data/tar.h)
 *   7 PNG (data/png.h)           8 JPEG (data/jpeg.h)
 *   9 checkpoint metadata: the input as safetensors, its metadata read as a checkpoint's run
 *     settings and as an encoder's (data/run_settings.h), then, for a small encoder, the
 *     encoder loaded from the bytes (eval/encoder.h)
 * Each call parses the input, frees what it made, and must never crash, leak, read out of
 * bounds or hit undefined behaviour, whatever the bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "simclr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    simclr_error err;
#if FUZZ_TARGET == 1
    uint8_t *out;
    size_t out_size;
    if (gzip_decompress(&out, &out_size, data, size, 1 << 20, "fuzz.gz", &err) == SIMCLR_OK)
        simclr_free(out);
#elif FUZZ_TARGET == 2
    static uint8_t out[1 << 16];
    size_t out_size, consumed;
    (void)inflate_raw(out, sizeof out, &out_size, data, size, &consumed, "fuzz.deflate", &err);
#elif FUZZ_TARGET == 3
    idx_array array;
    if (idx_parse(&array, data, size, "fuzz.idx", size % 2 ? 3 : 1, &err) == SIMCLR_OK)
        idx_array_free(&array);
#elif FUZZ_TARGET == 4
    float *image;
    size_t channels, height, width;
    if (image_parse_pnm(data, size, "fuzz.ppm", &image, &channels, &height, &width, &err) ==
        SIMCLR_OK)
        simclr_free(image);
#elif FUZZ_TARGET == 5
    safetensors_file file;
    if (safetensors_parse(&file, data, size, "fuzz.safetensors", &err) == SIMCLR_OK) {
        size_t i;
        for (i = 0; i < file.count; i++) /* touch every tensor's bytes */
            if (file.tensors[i].dtype == ST_F32 && file.tensors[i].end - file.tensors[i].begin <= 4096) {
                float values[1024];
                safetensors_copy_f32(&file, &file.tensors[i], values, &err);
            }
        safetensors_free(&file);
    }
#elif FUZZ_TARGET == 6
    size_t offset = 0;
    tar_member member;
    unsigned long sum = 0;
    while (tar_next(data, size, &offset, &member, "fuzz.tar", &err) == 1)
        if (member.size > 0)
            sum += member.data[member.size - 1]; /* the member must lie inside the input */
    (void)sum;
#elif FUZZ_TARGET == 7 || FUZZ_TARGET == 8
    uint8_t *pixels;
    size_t height, width, h2, w2;
    int gray;
    /* the header reader, then the decoder (as RGB; as gray too when the header says gray) */
    if ((FUZZ_TARGET == 7 ? png_read_header(data, size, "fuzz.png", &h2, &w2, &gray, &err)
                          : jpeg_read_header(data, size, "fuzz.jpg", &h2, &w2, &gray, &err)) ==
        SIMCLR_OK) {
        int c;
        for (c = gray ? 0 : 1; c < 2; c++)
            if ((FUZZ_TARGET == 7
                     ? png_decode(data, size, "fuzz.png", c ? 3 : 1, 1 << 20, &pixels, &height,
                                  &width, &err)
                     : jpeg_decode(data, size, "fuzz.jpg", c ? 3 : 1, 1 << 20, &pixels, &height,
                                   &width, &err)) == SIMCLR_OK) {
                if (height != h2 || width != w2)
                    abort(); /* the header and the decoder must agree */
                simclr_free(pixels);
            }
    }
#elif FUZZ_TARGET == 9
    safetensors_file file;
    if (safetensors_parse(&file, data, size, "fuzz.safetensors", &err) == SIMCLR_OK) {
        simclr_training training;
        size_t epoch, step;
        int small;
        (void)simclr_checkpoint_training(&file, "fuzz.safetensors", &training, &epoch, &step,
                                         &err);
        /* the encoder only when its network is small: the fuzzer hunts parser bugs, not
         * allocations of a 4096-pixel ResNet-50 of width 16 */
        small = run_settings_from_metadata(&training, &file, "fuzz.safetensors",
                                           run_settings_encoder_keys, &err) == SIMCLR_OK &&
                training.model.encoder.width <= 0.125 && training.augment.size <= 32 &&
                training.model.height <= 32;
        safetensors_free(&file);
        if (small) {
            simclr_encoder encoder;
            if (simclr_encoder_load_bytes(&encoder, data, size, "fuzz.safetensors", 0, 1, &err) ==
                SIMCLR_OK)
                simclr_encoder_destroy(&encoder);
        }
    }
#else
#error "define FUZZ_TARGET as 1 to 9"
#endif
    return 0;
}
