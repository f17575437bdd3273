/*
 * eval/report.h — how a classifier did: top-1 and top-5 accuracy, per-class accuracy and the
 * confusion matrix, from a score per (sample, class).
 *
 * A sample is ranked by its scores, largest first, ties going to the lower class index (what a
 * stable descending sort does, and torch.topk on distinct scores). top-1: the true class ranks
 * first; top-5: it ranks among the first min(5, c). per_class[c] = top-1 accuracy over the
 * samples whose true class is c (0 when there are none); confusion[t·c + p] counts samples of
 * true class t predicted as p.
 * A NaN score ranks below every number, and a true class scored NaN is a miss in every top-k:
 * a diverged model's scores never count as right answers. A sample whose scores are all NaN
 * predicts no class (its confusion row stays empty; it counts in class_count).
 */
#ifndef SIMCLR_EVAL_REPORT_H
#define SIMCLR_EVAL_REPORT_H

#include <stddef.h>

#include "../nn/error.h"

typedef struct classification_report {
    size_t samples, classes;
    double top1, top5;
    double *per_class;   /* (c) */
    size_t *class_count; /* (c) samples of each true class */
    size_t *confusion;   /* (c, c) rows: true class, columns: predicted class */
} classification_report;

/* The rank of class `label` among scores (0: the top), by the rule above; `classes` when the
 * label's own score is NaN. */
size_t classification_rank(const float *scores, /* (c) */
                           size_t classes, size_t label);

int classification_report_compute(classification_report *report,
                                  const float *scores, /* (m, c) */
                                  const int *labels,   /* (m) in [0, c) */
                                  size_t m, size_t classes, simclr_error *err);
void classification_report_destroy(classification_report *report);

#endif
