/*
 * loss/contrastive.c — the choice of contrastive loss: its configuration, its name on the
 * command line, and forward/backward dispatched to the selected loss.
 * The losses themselves: loss/ntxent.c, loss/alternatives.c; the cache and the steps they share:
 * loss/contrastive_cache.c. Formulas: loss/contrastive.h.
 */
#include "contrastive.h"

#include <string.h>


contrastive_loss contrastive_loss_default(void)
{
    contrastive_loss loss;
    loss.kind = LOSS_NTXENT;
    loss.temperature = 0.5f;
    loss.margin = 0.5f;
    return loss;
}

static const char *const contrastive_loss_names[3] = {"ntxent", "nt-logistic", "margin-triplet"};

const char *contrastive_loss_name(contrastive_loss_kind kind)
{
    return (unsigned)kind < 3 ? contrastive_loss_names[kind] : "unknown";
}

int contrastive_loss_parse(const char *name, contrastive_loss_kind *kind, simclr_error *err)
{
    int k;
    for (k = 0; k < 3; k++)
        if (strcmp(name, contrastive_loss_names[k]) == 0) {
            *kind = (contrastive_loss_kind)k;
            return SIMCLR_OK;
        }
    return simclr_fail(err, "unknown loss '%s' (choose ntxent, nt-logistic or margin-triplet)",
                       name);
}

float contrastive_loss_forward(contrastive_cache *cache, const float *z0, const float *z1,
                               const contrastive_loss *loss, size_t N, size_t d)
{
    switch (loss->kind) {
    case LOSS_NT_LOGISTIC:
        return nt_logistic_forward(cache, z0, z1, loss->temperature, N, d);
    case LOSS_MARGIN_TRIPLET:
        return margin_triplet_forward(cache, z0, z1, loss->margin, N, d);
    case LOSS_NTXENT:
    default:
        return ntxent_forward(cache, z0, z1, loss->temperature, N, d);
    }
}

void contrastive_loss_backward(float *dz0, float *dz1, contrastive_cache *cache,
                               const contrastive_loss *loss, size_t N, size_t d)
{
    switch (loss->kind) {
    case LOSS_NT_LOGISTIC:
        nt_logistic_backward(dz0, dz1, cache, loss->temperature, N, d);
        break;
    case LOSS_MARGIN_TRIPLET:
        margin_triplet_backward(dz0, dz1, cache, loss->margin, N, d);
        break;
    case LOSS_NTXENT:
    default:
        ntxent_backward(dz0, dz1, cache, loss->temperature, N, d);
        break;
    }
}
