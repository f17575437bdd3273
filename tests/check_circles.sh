#!/usr/bin/env bash
# tests/check_circles.sh — no circles between source files: if file A calls a function of (or
# reads a variable defined in) file B, then B must not reach A, directly or round a loop.
#
#   make && bash tests/check_circles.sh
#
# The "calls" graph is read from the built objects with nm: each object's defined external
# symbols and its undefined ones; an edge A -> B for every symbol A leaves undefined and B
# defines. Only the project's own objects count (nn/ loss/ aug/ data/ eval/ and simclr.c), so
# libc, libm and OpenMP symbols, which no project object defines, make no edges.
# simclr_algorithm.o and simclr_program.o are the two halves of the one source file simclr.c.
# The graph's strongly connected components are found (Tarjan); every component of more than
# one file is a circle, printed as one closed path through it ("a.c -> b.c -> a.c") with the
# files of the whole component. Exit 1 if there is any, else print "no circles among N source
# files" and exit 0. Exit 2 when the objects are missing (run make first).
set -euo pipefail
cd "$(dirname "$0")/.."
NM=${NM:-nm}

objects=$(ls nn/*.o loss/*.o aug/*.o data/*.o eval/*.o simclr_algorithm.o simclr_program.o \
          2>/dev/null || true)
if [ -z "$objects" ] || [ ! -f simclr_algorithm.o ]; then
    echo "check_circles: no objects; run make first" >&2
    exit 2
fi

# One line per symbol: "D source symbol" (defined) or "U source symbol" (undefined).
symbols() {
    local object source
    for object in $objects; do
        case $object in
            simclr_algorithm.o|simclr_program.o) source=simclr.c ;;
            *) source=${object%.o}.c ;;
        esac
        "$NM" -g --defined-only "$object" | awk -v s="$source" 'NF >= 3 { print "D", s, $3 }'
        "$NM" -u "$object" | awk -v s="$source" 'NF >= 2 { print "U", s, $2 }'
    done
}

symbols | awk '
    $1 == "D" { definer[$3] = $2; files[$2] = 1; next }
    $1 == "U" { files[$2] = 1; used[++n_used] = $2 SUBSEP $3 }
    END {
        # edges between different files, each once; adjacency lists in sorted order so the
        # report is the same on every run
        for (i = 1; i <= n_used; i++) {
            split(used[i], pair, SUBSEP)
            from = pair[1]; to = definer[pair[2]]
            if (to == "" || to == from || ((from, to) in edge)) continue
            edge[from, to] = 1
        }
        n = 0
        for (f in files) name[++n] = f
        sort_names(name, n)
        for (i = 1; i <= n; i++) index_of[name[i]] = i
        for (i = 1; i <= n; i++) {
            degree[i] = 0
            for (j = 1; j <= n; j++)
                if ((name[i], name[j]) in edge) next_of[i, ++degree[i]] = j
        }
        # Tarjan strongly connected components
        counter = 0; depth = 0; components = 0
        for (i = 1; i <= n; i++) if (!(i in order)) connect(i)
        circles = 0
        for (c = 1; c <= components; c++) {
            if (size[c] < 2) continue
            circles++
            members = ""
            for (k = 1; k <= size[c]; k++) members = members " " name[member[c, k]]
            print "circle:" path_round(member[c, 1], c)
            print "  (files in this circle:" members ")"
        }
        if (circles > 0) {
            printf "%d circle%s among %d source files\n", circles, (circles > 1 ? "s" : ""), n
            exit 1
        }
        printf "no circles among %d source files\n", n
    }

    function sort_names(a, m,    i, j, t) {
        for (i = 2; i <= m; i++)
            for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    }

    function connect(v,    k, w) {
        order[v] = low[v] = ++counter
        stack[++depth] = v; on_stack[v] = 1
        for (k = 1; k <= degree[v]; k++) {
            w = next_of[v, k]
            if (!(w in order)) { connect(w); if (low[w] < low[v]) low[v] = low[w] }
            else if (on_stack[w] && order[w] < low[v]) low[v] = order[w]
        }
        if (low[v] == order[v]) {
            components++; size[components] = 0
            do {
                w = stack[depth--]; on_stack[w] = 0
                component[w] = components; member[components, ++size[components]] = w
            } while (w != v)
        }
    }

    # A shortest closed path from `start` back to itself inside component c (breadth first).
    function path_round(start, c,    queue, head, tail, parent, seen, v, k, w, p, text) {
        head = 1; tail = 0; queue[++tail] = start
        while (head <= tail) {
            v = queue[head++]
            for (k = 1; k <= degree[v]; k++) {
                w = next_of[v, k]
                if (component[w] != c) continue
                if (w == start) {
                    text = " " name[start]
                    for (p = v; p != start; p = parent[p]) text = " " name[p] " ->" text
                    return " " name[start] " ->" text
                }
                if (!(w in seen)) { seen[w] = 1; parent[w] = v; queue[++tail] = w }
            }
        }
        return " " name[start]
    }
'
