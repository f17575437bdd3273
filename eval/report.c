/*
 * eval/report.c — accuracy, per-class accuracy and confusion; see report.h.
 */
#include "report.h"

#include <string.h>

#include "../nn/memory.h"
#include "../nn/tensor.h"

/* A NaN score ranks below every number (the comparisons below are false for NaN). */
size_t classification_rank(const float *scores, size_t classes, size_t label)
{
    size_t rank = 0, c;
    if (scores[label] != scores[label])
        return classes; /* a NaN score of the true class is never a hit, in any top-k */
    for (c = 0; c < classes; c++)
        if (scores[c] > scores[label] || (scores[c] == scores[label] && c < label))
            rank++;
    return rank;
}

int classification_report_compute(classification_report *report, const float *scores,
                                  const int *labels, size_t m, size_t classes, simclr_error *err)
{
    size_t cells, correct1 = 0, correct5 = 0, i;
    memset(report, 0, sizeof *report);
    if (classes == 0)
        return simclr_fail(err, "report: no classes");
    if (size_multiply_checked(classes, classes, &cells) != SIMCLR_OK)
        return simclr_fail(err, "report: %lu classes overflow size_t", (unsigned long)classes);
    report->samples = m;
    report->classes = classes;
    report->per_class = simclr_calloc(classes, sizeof(double), "report: per-class", err);
    report->class_count = simclr_calloc(classes, sizeof(size_t), "report: counts", err);
    report->confusion = simclr_calloc(cells, sizeof(size_t), "report: confusion", err);
    if (report->per_class == NULL || report->class_count == NULL || report->confusion == NULL) {
        classification_report_destroy(report);
        return SIMCLR_FAILED;
    }
    for (i = 0; i < m; i++) {
        const float *row = scores + i * classes;
        size_t predicted = classes, rank, c; /* classes: no score is a number */
        if (labels[i] < 0 || (size_t)labels[i] >= classes) {
            classification_report_destroy(report);
            return simclr_fail(err, "report: label %d of sample %lu is outside [0, %lu)",
                               labels[i], (unsigned long)i, (unsigned long)classes);
        }
        for (c = 0; c < classes; c++)
            if (row[c] == row[c] && (predicted == classes || row[c] > row[predicted]))
                predicted = c;
        rank = classification_rank(row, classes, (size_t)labels[i]);
        correct1 += rank == 0;
        correct5 += rank < 5 && rank < classes; /* rank = classes: a NaN true score */
        report->class_count[labels[i]]++;
        if (predicted < classes)
            report->confusion[(size_t)labels[i] * classes + predicted]++;
    }
    for (i = 0; i < classes; i++)
        report->per_class[i] = report->class_count[i] == 0
                                   ? 0.0
                                   : (double)report->confusion[i * classes + i] /
                                         (double)report->class_count[i];
    report->top1 = m == 0 ? 0.0 : (double)correct1 / (double)m;
    report->top5 = m == 0 ? 0.0 : (double)correct5 / (double)m;
    return SIMCLR_OK;
}

void classification_report_destroy(classification_report *report)
{
    simclr_free(report->per_class);
    simclr_free(report->class_count);
    simclr_free(report->confusion);
    memset(report, 0, sizeof *report);
}
