/*
 * router_lda.c - regularised linear discriminant analysis for `router fit`
 * (mb_router_fit_lda in mb_router.h), in double precision.
 *
 * With Sw the within-class scatter (shrunk toward a multiple of the identity,
 * so it is invertible with fewer examples than dimensions) and Sb the
 * between-class scatter, the discriminant directions solve Sb w = l Sw w.
 * Sb = B B^T has rank C-1 (B: d x C, columns sqrt(n_c/n) (m_c - m)), so with
 * the Cholesky factor Sw = L L^T the problem reduces to the C x C symmetric
 * matrix G = Y^T Y, Y = L^-1 B: its eigenvectors u give v = Y u / sqrt(l) and
 * w = L^-T v, which have unit within-class variance (w^T Sw w = 1). Only a
 * d x d Cholesky and a tiny Jacobi eigensolver are needed.
 */
#include "mb_router.h"

#include <math.h>

/* In-place Cholesky of the d x d SPD matrix a (lower triangle); false if not SPD. */
static bool cholesky(double *a, size_t d)
{
    for (size_t j = 0; j < d; j++) {
        double s = a[j * d + j];
        for (size_t k = 0; k < j; k++)
            s -= a[j * d + k] * a[j * d + k];
        if (!(s > 0))
            return false;
        double ljj = sqrt(s);
        a[j * d + j] = ljj;
        for (size_t i = j + 1; i < d; i++) {
            double t = a[i * d + j];
            for (size_t k = 0; k < j; k++)
                t -= a[i * d + k] * a[j * d + k];
            a[i * d + j] = t / ljj;
        }
    }
    return true;
}

/* Solve L y = b in place (L lower, d x d). */
static void solve_lower(const double *l, size_t d, double *b)
{
    for (size_t i = 0; i < d; i++) {
        double s = b[i];
        for (size_t k = 0; k < i; k++)
            s -= l[i * d + k] * b[k];
        b[i] = s / l[i * d + i];
    }
}

/* Solve L^T x = b in place. */
static void solve_upper_t(const double *l, size_t d, double *b)
{
    for (size_t ii = d; ii-- > 0;) {
        double s = b[ii];
        for (size_t k = ii + 1; k < d; k++)
            s -= l[k * d + ii] * b[k];
        b[ii] = s / l[ii * d + ii];
    }
}

/* Cyclic Jacobi: eigenvalues of symmetric c x c `a` into ev, vectors as columns of v. */
static void jacobi(double *a, size_t c, double *ev, double *v)
{
    for (size_t i = 0; i < c; i++)
        for (size_t j = 0; j < c; j++)
            v[i * c + j] = i == j ? 1.0 : 0.0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (size_t p = 0; p < c; p++)
            for (size_t q = p + 1; q < c; q++)
                off += a[p * c + q] * a[p * c + q];
        if (off < 1e-30)
            break;
        for (size_t p = 0; p < c; p++)
            for (size_t q = p + 1; q < c; q++) {
                double apq = a[p * c + q];
                if (fabs(apq) < 1e-300)
                    continue;
                double theta = (a[q * c + q] - a[p * c + p]) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double cs = 1 / sqrt(t * t + 1), sn = t * cs;
                for (size_t k = 0; k < c; k++) {
                    double akp = a[k * c + p], akq = a[k * c + q];
                    a[k * c + p] = cs * akp - sn * akq;
                    a[k * c + q] = sn * akp + cs * akq;
                }
                for (size_t k = 0; k < c; k++) {
                    double apk = a[p * c + k], aqk = a[q * c + k];
                    a[p * c + k] = cs * apk - sn * aqk;
                    a[q * c + k] = sn * apk + cs * aqk;
                }
                for (size_t k = 0; k < c; k++) {
                    double vkp = v[k * c + p], vkq = v[k * c + q];
                    v[k * c + p] = cs * vkp - sn * vkq;
                    v[k * c + q] = sn * vkp + cs * vkq;
                }
            }
    }
    for (size_t i = 0; i < c; i++)
        ev[i] = a[i * c + i];
}

int mb_router_fit_lda(const float *x, const uint32_t *labels, size_t n, uint32_t dim,
                      uint32_t n_classes, double gamma, struct mb_router_proj *out,
                      struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (n_classes < 2)
        return mb_fail(err, MB_E_USAGE, "router fit: needs at least two classes (got %u)",
                       n_classes);
    if (!(gamma > 0 && gamma <= 1))
        return mb_fail(err, MB_E_USAGE, "router fit: regularisation must be in (0, 1]");
    if (!dim || dim > 16384 || n_classes > 4096)
        return mb_fail(err, MB_E_LIMIT, "router fit: %u dimensions / %u classes are too many", dim,
                       n_classes);
    size_t d = dim, c = n_classes, dd;
    if (!mb_mul_ok(d, d, &dd))
        return mb_fail(err, MB_E_LIMIT, "router fit: too many dimensions");
    double *sw = mb_calloc(dd, sizeof(double));
    double *means = mb_calloc(c * d, sizeof(double));
    double *mu = mb_calloc(d, sizeof(double));
    double *y = mb_calloc(c * d, sizeof(double)); /* columns of Y as rows */
    double *g = mb_calloc(c * c, sizeof(double));
    double *ev = mb_calloc(c, sizeof(double));
    double *u = mb_calloc(c * c, sizeof(double));
    double *tmp = mb_calloc(d, sizeof(double));
    size_t *cnt = mb_calloc(c, sizeof(size_t));
    int rc = 0;
    if (!sw || !means || !mu || !y || !g || !ev || !u || !tmp || !cnt) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory fitting the router");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (labels[i] >= n_classes) {
            rc = mb_fail(err, MB_E_USAGE, "router fit: label %u of example %zu out of range",
                         labels[i], i);
            goto out;
        }
        cnt[labels[i]]++;
        for (size_t j = 0; j < d; j++)
            means[labels[i] * d + j] += (double)x[i * d + j];
    }
    for (size_t k = 0; k < c; k++) {
        if (!cnt[k]) {
            rc = mb_fail(err, MB_E_USAGE, "router fit: class %zu has no examples", k);
            goto out;
        }
        for (size_t j = 0; j < d; j++)
            means[k * d + j] /= (double)cnt[k];
    }
    for (size_t j = 0; j < d; j++) {
        for (size_t k = 0; k < c; k++)
            mu[j] += means[k * d + j] * (double)cnt[k];
        mu[j] /= (double)n;
    }
    /* Within-class scatter (lower triangle suffices for Cholesky; fill all for clarity). */
    for (size_t i = 0; i < n; i++) {
        const double *m = means + labels[i] * d;
        for (size_t j = 0; j < d; j++)
            tmp[j] = (double)x[i * d + j] - m[j];
        for (size_t a = 0; a < d; a++) {
            double ta = tmp[a];
            double *row = sw + a * d;
            for (size_t b = 0; b <= a; b++)
                row[b] += ta * tmp[b];
        }
    }
    double tr = 0;
    for (size_t a = 0; a < d; a++)
        tr += sw[a * d + a];
    tr /= (double)n;
    double ridge = tr > 0 ? gamma * tr / (double)d : 1e-6;
    for (size_t a = 0; a < d; a++) {
        for (size_t b = 0; b <= a; b++)
            sw[a * d + b] = (1 - gamma) * sw[a * d + b] / (double)n;
        sw[a * d + a] += ridge;
    }
    if (!cholesky(sw, d)) {
        rc = mb_fail(err, MB_E_USAGE,
                     "router fit: the within-class scatter is not positive "
                     "definite (raise the regularisation)");
        goto out;
    }
    for (size_t k = 0; k < c; k++) {
        double s = sqrt((double)cnt[k] / (double)n);
        double *yk = y + k * d;
        for (size_t j = 0; j < d; j++)
            yk[j] = s * (means[k * d + j] - mu[j]);
        solve_lower(sw, d, yk);
    }
    for (size_t a = 0; a < c; a++)
        for (size_t b = 0; b < c; b++) {
            double s = 0;
            for (size_t j = 0; j < d; j++)
                s += y[a * d + j] * y[b * d + j];
            g[a * c + b] = s;
        }
    jacobi(g, c, ev, u);
    /* Order eigenpairs by eigenvalue, descending (selection sort on an index list). */
    size_t order[4096];
    for (size_t k = 0; k < c; k++)
        order[k] = k;
    for (size_t a = 0; a < c; a++)
        for (size_t b = a + 1; b < c; b++)
            if (ev[order[b]] > ev[order[a]]) {
                size_t t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
    size_t n_out = 0;
    double top = ev[order[0]];
    while (n_out < c - 1 && ev[order[n_out]] > top * 1e-9 && ev[order[n_out]] > 0)
        n_out++;
    if (!n_out) {
        rc = mb_fail(err, MB_E_USAGE, "router fit: the classes have identical means");
        goto out;
    }
    out->w = mb_calloc(n_out * d, sizeof(float));
    out->mu = mb_calloc(d, sizeof(float));
    if (!out->w || !out->mu) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory fitting the router");
        goto out;
    }
    for (size_t r = 0; r < n_out; r++) {
        size_t k = order[r];
        double inv = 1 / sqrt(ev[k]);
        for (size_t j = 0; j < d; j++) {
            double s = 0;
            for (size_t a = 0; a < c; a++)
                s += y[a * d + j] * u[a * c + k];
            tmp[j] = s * inv;
        }
        solve_upper_t(sw, d, tmp);
        /* Fix the sign so the result does not depend on the eigensolver's. */
        size_t big = 0;
        for (size_t j = 1; j < d; j++)
            if (fabs(tmp[j]) > fabs(tmp[big]))
                big = j;
        double sign = tmp[big] < 0 ? -1.0 : 1.0;
        for (size_t j = 0; j < d; j++)
            out->w[r * d + j] = (float)(sign * tmp[j]);
    }
    for (size_t j = 0; j < d; j++)
        out->mu[j] = (float)mu[j];
    out->in_dim = dim;
    out->out_dim = (uint32_t)n_out;
out:
    if (rc)
        mb_router_proj_release(out);
    mb_free(sw);
    mb_free(means);
    mb_free(mu);
    mb_free(y);
    mb_free(g);
    mb_free(ev);
    mb_free(u);
    mb_free(tmp);
    mb_free(cnt);
    return rc;
}
