/*
 * aug/preview.c — the augmentation preview grid; see preview.h.
 */
#include "preview.h"

#include "../nn/memory.h"
#include "../nn/rng.h"
#include "../data/image_io.h"
#include "geometry.h"

int aug_preview_grid(float **grid_out, size_t *grid_height, size_t *grid_width,
                     const dataset *data, size_t n, size_t views, const aug_config *config,
                     uint64_t seed, simclr_error *err)
{
    const size_t S = config->size, C = data->channels, gap = 2;
    aug_config shown = *config;
    size_t grid_h, grid_w, i, v, c, y, x;
    float *grid, *image, *cell, *workspace;
    shown.normalize = 0;
    if (n > data->count)
        n = data->count;
    grid_h = n * S + (n + 1) * gap;
    grid_w = (views + 1) * S + (views + 2) * gap + gap; /* an extra gap after the original */
    grid = simclr_calloc(C * grid_h * grid_w, sizeof(float), "preview: grid", err);
    image = simclr_calloc(C * data->max_pixels, sizeof(float), "preview: image", err);
    cell = simclr_calloc(C * S * S, sizeof(float), "preview: cell", err);
    workspace = simclr_calloc(aug_view_workspace_floats(&shown, C, data->max_height,
                                                        data->max_width) +
                                  C * data->max_height * S,
                              sizeof(float), "preview: workspace", err);
    if (grid == NULL || image == NULL || cell == NULL || workspace == NULL) {
        simclr_free(grid), simclr_free(image), simclr_free(cell), simclr_free(workspace);
        return SIMCLR_FAILED;
    }
    for (i = 0; i < C * grid_h * grid_w; i++)
        grid[i] = 1.0f; /* white gaps */
    for (i = 0; i < n; i++) {
        size_t height, width;
        aug_crop whole = {0, 0, 0, 0};
        dataset_image_size(data, i, &height, &width);
        whole.height = height, whole.width = width;
        if (dataset_image(data, i, image, err) != SIMCLR_OK) {
            simclr_free(grid), simclr_free(image), simclr_free(cell), simclr_free(workspace);
            return SIMCLR_FAILED;
        }
        for (v = 0; v <= views; v++) {
            const size_t top = gap + i * (S + gap), left = gap + v * (S + gap) + (v > 0 ? gap : 0);
            if (v == 0) {
                aug_resize(cell, image, C, height, width, whole, S, S, workspace);
            } else {
                rng random;
                rng_stream(&random, seed, RNG_DOMAIN_VIEW, 0, i, v - 1);
                aug_view(cell, image, C, height, width, &shown, &random, workspace);
            }
            for (c = 0; c < C; c++)
                for (y = 0; y < S; y++)
                    for (x = 0; x < S; x++)
                        grid[(c * grid_h + top + y) * grid_w + left + x] = cell[(c * S + y) * S + x];
        }
    }
    simclr_free(image), simclr_free(cell), simclr_free(workspace);
    *grid_out = grid;
    *grid_height = grid_h;
    *grid_width = grid_w;
    return SIMCLR_OK;
}

int aug_preview_write(const char *path, size_t *height, size_t *width, const dataset *data,
                      size_t n, size_t views, const aug_config *config, uint64_t seed,
                      simclr_error *err)
{
    float *grid;
    int status;
    if (aug_preview_grid(&grid, height, width, data, n, views, config, seed, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    status = image_write(path, grid, data->channels, *height, *width, err);
    simclr_free(grid);
    return status;
}
