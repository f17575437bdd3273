/*
 * tests/embed_example.c — embedding an image with a trained SimCLR encoder, as a C program that
 * uses the installed library would (tests/check_install.sh builds it with nothing but
 * `pkg-config --cflags --libs simclr` and runs it).
 *
 *     embed_example ENCODER [FEATURES]
 *
 * ENCODER is a checkpoint of `simclr train` or a file of `simclr export`. The program reads it
 * into memory (as firmware would hold it in a const array), loads the encoder from those bytes
 * for one image at a time, embeds image 0 of the training split of the run's dataset and
 * prints the feature size and the peak memory of the process so far. With FEATURES (a file of
 * `simclr embed` for the same encoder) it then checks that its features are those of
 * train.features row 0, bit for bit, and exits 1 if not.
 */
#include <stdio.h>
#include <string.h>

#include "simclr.h"

int main(int argc, char **argv)
{
    simclr_encoder encoder;
    simclr_error err;
    dataset data;
    safetensors_file file;
    const safetensors_tensor *expected;
    uint8_t *bytes;
    size_t size, dim, i;
    float image[3 * 32 * 32], *features, *reference;
    int status = 0;
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: embed_example ENCODER [FEATURES]\n");
        return 2;
    }
    /* the encoder, from bytes in memory */
    if (file_read_all(argv[1], (size_t)1 << 30, &bytes, &size, &err) != SIMCLR_OK ||
        simclr_encoder_load_bytes(&encoder, bytes, size, argv[1], 0, 1, &err) != SIMCLR_OK) {
        fprintf(stderr, "embed_example: %s\n", err.message);
        return 1;
    }
    simclr_free(bytes);
    /* image 0 of the run's training data, as simclr embed sees it */
    if (dataset_open(&data, encoder.data, 1, encoder.seed, &err) != SIMCLR_OK) {
        fprintf(stderr, "embed_example: %s\n", err.message);
        return 1;
    }
    if (data.channels * data.height * data.width > sizeof image / sizeof image[0]) {
        fprintf(stderr, "embed_example: the example holds images up to 3x32x32\n");
        return 1;
    }
    if (dataset_image(&data, 0, image, &err) != SIMCLR_OK) {
        fprintf(stderr, "embed_example: %s\n", err.message);
        return 1;
    }
    dim = encoder.net.feature_dim;
    features = simclr_calloc(2 * dim, sizeof(float), "embed_example: features", &err);
    if (features == NULL ||
        simclr_encoder_embed(&encoder, features, image, 1, data.height, data.width, &err) !=
            SIMCLR_OK) {
        fprintf(stderr, "embed_example: %s\n", err.message);
        return 1;
    }
    printf("embedded a %lux%lux%lu image: %lu features (%s, width %g), peak memory %.1f MiB\n",
           (unsigned long)data.channels, (unsigned long)data.height, (unsigned long)data.width,
           (unsigned long)dim, resnet_arch_name(encoder.net.config.arch),
           encoder.net.config.width, timer_peak_memory_mib());
    if (argc == 3) { /* the same numbers as simclr embed's */
        reference = features + dim;
        if (safetensors_read(&file, argv[2], &err) != SIMCLR_OK) {
            fprintf(stderr, "embed_example: %s\n", err.message);
            return 1;
        }
        expected = safetensors_find(&file, "train.features");
        if (expected == NULL || expected->dtype != ST_F32 || expected->ndim != 2 ||
            expected->shape[0] == 0 || expected->shape[1] != dim) {
            fprintf(stderr, "embed_example: %s has no train.features of %lu columns\n", argv[2],
                    (unsigned long)dim);
            return 1;
        }
        for (i = 0; i < dim; i++) { /* row 0, stored little-endian */
            const uint8_t *b = file.data + expected->begin + 4 * i;
            const uint32_t word = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                                  (uint32_t)b[3] << 24;
            memcpy(&reference[i], &word, sizeof word);
        }
        status = memcmp(reference, features, dim * sizeof(float)) != 0;
        printf("%s simclr embed's train.features[0], bit for bit\n",
               status ? "differs from" : "matches");
        safetensors_free(&file);
    }
    simclr_free(features);
    dataset_close(&data);
    simclr_encoder_destroy(&encoder);
    return status;
}
