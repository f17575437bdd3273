# simclr-c — build, test and install.
#
#   make                 the `simclr` program and libsimclr.a (fast profile)
#   make test            build and run the Criterion test suite
#   make install         install simclr, libsimclr.a and the headers under $(DESTDIR)$(PREFIX)
#   make clean           remove everything the build made
#
# Knobs (each on the command line, e.g. `make CC=clang OPENMP=0`):
#   CC        the C compiler (default cc)
#   CFLAGS    extra flags, appended after the project's own (so -O2 here overrides -O3)
#   LDFLAGS   extra linker flags
#   PREFIX    install prefix (default /usr/local); DESTDIR a staging root
#   OPENMP    1 to build with OpenMP, 0 without; default 1 where the compiler supports -fopenmp
#   PORTABLE  0 (default): the fast profile, -O3 -march=native (where the compiler accepts it;
#                          with AVX-512 also -mprefer-vector-width=512, see below) and
#                          -ffp-contract=fast, so a*b+c may become one fused multiply-add
#             1: the portable profile, -O3 with no -march and no contraction, for binaries
#                that run on any machine of the architecture and round every operation as
#                ISO C says
#   WERROR    1 to turn warnings into errors (CI does)
#   SINGLE_EVAL 1 (default): where the compiler evaluates float expressions in a wider type
#                (FLT_EVAL_METHOD 1 on s390x, 2 on 32-bit x86's x87), ask it for plain float
#                evaluation (-fexcess-precision=fast on s390x, -msse2 -mfpmath=sse on 32-bit
#                x86), so every platform rounds every operation to float as x86-64 and ARM do
#                and the reference outputs and training losses agree bit for bit
#             0: keep the compiler's own evaluation (x87-only machines without SSE2); results
#                then differ in the last bits, which training can amplify (see the README)
#   REFERENCE 1: every layer and the GEMM run their naive reference definitions instead of the
#                fast paths (im2col, packing, Winograd): slow, for studying the algorithm and for
#                checking the fast paths (its reference outputs agree with the fast build's
#                within the PyTorch cross-check's tolerances; .ci/run checks it)
#             0 (default): the fast paths
#   FILES     1 (default): the library reads and writes files (checkpoints, datasets, image
#                folders, reference outputs)
#             0: built for a machine without a file system (a microcontroller): defines
#                SIMCLR_NO_FILES, so the library makes no call into the C library's files or
#                folders (fopen, rename, remove, mkdir, opendir); every function on a path
#                fails with the reason instead (data/file_io.h), and everything from memory
#                works: the layers, losses, augmentations, built-in data, training steps,
#                safetensors from bytes, reference cases through a callback (eval/golden.h).
#                Build libsimclr.a (the program needs files); with
#                CFLAGS=-DSIMCLR_ALLOCATOR_HEADER=... the allocator is yours (nn/memory.h).
#                tests/check_cortex_m.sh builds it for Cortex-M4 and M33 (make check-cortex-m)
#   MPI       0 (default): one process; the library has no MPI code and no MPI symbol
#             1: data-parallel training over MPI (`mpirun -np K ./simclr train ...`, K a power
#                of two): compiles with mpicc (unless CC is given: it must then find mpi.h and
#                link MPI itself; with Open MPI, OMPI_CC=clang picks mpicc's compiler instead),
#                defines SIMCLR_MPI=1 and adds nn/ranks_mpi.c (the rank_group over MPI) to the
#                library. Debian: libopenmpi-dev openmpi-bin. tests/check_mpi.sh (make
#                check-mpi) builds it in a copy of the tree and checks the same bits for 1, 2
#                and 4 ranks
#
# Other targets: the program is simclr.exe with mingw-w64 (CC=x86_64-w64-mingw32-gcc; add
# LDFLAGS=-static for a program that needs no DLL) and simclr.wasm with
# CC="clang --target=wasm32-wasi" (OPENMP=0 LDFLAGS=-Wl,-z,stack-size=8388608; run it with
# node tests/run_wasi.js). nn/maths.c is always compiled with -ffp-contract=off (see there).
#
# The language is C99 with the strict warning set below, and nothing beyond libc and libm
# (OpenMP optional). No VLAs, no -ffast-math or -Ofast, ever.

CC       ?= cc
AR       ?= ar
PREFIX   ?= /usr/local
DESTDIR  ?=
CFLAGS   ?=
LDFLAGS  ?=
PORTABLE ?= 0
WERROR   ?= 0
SINGLE_EVAL ?= 1
REFERENCE ?= 0
FILES    ?= 1
MPI      ?= 0

# MPI=1 compiles and links with mpicc, unless the command line or the environment names CC.
ifeq ($(MPI),1)
  ifeq ($(origin CC),default)
    CC = mpicc
  endif
endif

# The program's file name: simclr.exe for Windows (mingw-w64), simclr.wasm for WebAssembly
# (wasm32-wasi), simclr elsewhere; known from the compiler's target triple. The target names the
# file the linker writes, so `make` twice links once.
TARGET_TRIPLE := $(shell $(CC) -dumpmachine 2>/dev/null)
EXE = $(if $(findstring mingw,$(TARGET_TRIPLE))$(findstring windows,$(TARGET_TRIPLE)),.exe,$(if $(findstring wasi,$(TARGET_TRIPLE)),.wasm,))
PROGRAM = simclr$(EXE)

# Does the compiler take -fopenmp, find omp.h and link the runtime? Then OpenMP is on unless
# OPENMP=0. The probe links into a file of its own (removed at once), never into /dev/null: a
# compiler for Windows would write "/dev/null.exe", fail, and silently turn OpenMP off.
OPENMP_PROBE := $(shell printf '\043include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n' | \
                  $(CC) -fopenmp -x c - -o .openmp-probe.out >/dev/null 2>&1 && echo 1 || echo 0; \
                  rm -f .openmp-probe.out .openmp-probe.out.exe)
OPENMP ?= $(OPENMP_PROBE)

# Does the compiler accept FLAG? (preprocesses an empty program from standard input)
accepts = $(shell printf '\n' | $(CC) $(1) -E -x c - >/dev/null 2>&1 && echo $(1))

WARNINGS = -std=c99 -pedantic -Wall -Wextra -Wshadow -Wstrict-prototypes -Wvla
ifeq ($(WERROR),1)
  WARNINGS += -Werror
endif

# No contraction: every a*b + c rounded twice, as ISO C writes it (gcc's default in C99 mode,
# not clang's, which fuses within an expression where the machine has FMA).
FP_CONTRACT_OFF := $(call accepts,-ffp-contract=off)
ifeq ($(PORTABLE),1)
  OPTIMISE = -O3 $(FP_CONTRACT_OFF)
else
  MARCH_NATIVE := $(call accepts,-march=native)
  FP_CONTRACT  := $(call accepts,-ffp-contract=fast)
  # On Intel's AVX-512 server chips (skylake-avx512, icelake-server, ...) gcc and clang prefer
  # 256-bit vectors, which splits the GEMM's register tile (nn/gemm.h: 12 x 32 floats, 24 of
  # the 32 512-bit registers) into 48 256-bit accumulators that no longer fit the 32 registers
  # and spill: 31 against 110 GFLOP/s measured on one core of an Ice Lake server. Where the
  # machine has AVX-512, ask for 512-bit vectors. (The bits are the same: vectors only group
  # independent sums, each still added in its own order.)
  AVX512 := $(if $(MARCH_NATIVE),$(shell printf '__AVX512F__\n' | $(CC) $(MARCH_NATIVE) -E -x c - 2>/dev/null | grep -x 1))
  VECTOR_WIDTH := $(if $(AVX512),$(call accepts,$(MARCH_NATIVE) -mprefer-vector-width=512))
  OPTIMISE = -O3 $(MARCH_NATIVE) $(if $(VECTOR_WIDTH),-mprefer-vector-width=512) $(FP_CONTRACT)
endif

# FLT_EVAL_METHOD as the compiler defines it under the given flags (empty if it cannot tell).
flt_eval = $(shell printf '__FLT_EVAL_METHOD__\n' | $(CC) -std=c99 $(1) -E -x c - 2>/dev/null | \
             sed -n '/^ *[0-9-]/p' | tr -d ' ')
FLOAT_EVAL =
ifeq ($(SINGLE_EVAL),1)
  ifneq ($(filter 1 2,$(call flt_eval,)),)
    ifeq ($(call flt_eval,-fexcess-precision=fast),0)
      FLOAT_EVAL = -fexcess-precision=fast
    else ifeq ($(call flt_eval,-msse2 -mfpmath=sse),0)
      FLOAT_EVAL = -msse2 -mfpmath=sse
    endif
  endif
endif

ifeq ($(OPENMP),1)
  OPENMP_FLAGS = -fopenmp
else
  OPENMP_FLAGS =
endif

ifeq ($(REFERENCE),1)
  REFERENCE_FLAGS = -DSIMCLR_REFERENCE=1
else
  REFERENCE_FLAGS =
endif

ifeq ($(FILES),0)
  FILES_FLAGS = -DSIMCLR_NO_FILES
else
  FILES_FLAGS =
endif

ifeq ($(MPI),1)
  MPI_FLAGS = -DSIMCLR_MPI=1
  # the MPI library's link flags for simclr.pc's Libs (Open MPI's mpicc tells them; others: none)
  MPI_LINK := $(shell $(CC) --showme:link 2>/dev/null)
  # the compiler behind mpicc (OMPI_CC may change it), so that the build stamp sees a change
  MPI_COMPILER := $(shell $(CC) --showme:command 2>/dev/null)
else
  MPI_FLAGS =
  MPI_LINK =
  MPI_COMPILER =
endif

ALL_CFLAGS  = $(WARNINGS) $(OPTIMISE) $(FLOAT_EVAL) $(OPENMP_FLAGS) $(REFERENCE_FLAGS) $(FILES_FLAGS) $(MPI_FLAGS) -I. $(CFLAGS)
ALL_LDFLAGS = $(OPENMP_FLAGS) $(LDFLAGS)
LIBS        = -lm

# Every .c under nn/, loss/, aug/, data/ and eval/ is part of the library, except the MPI
# engine (nn/ranks_mpi.c and .h) outside MPI=1 builds. Headers named *_internal.h (GEMM
# packing, Winograd plans, gather/scatter helpers) are the library's own plumbing: used by its
# sources, never included by simclr.h, never installed.
MPI_SOURCES      = nn/ranks_mpi.c
MPI_HEADERS      = nn/ranks_mpi.h
LIBRARY_SOURCES  = $(sort $(wildcard nn/*.c loss/*.c aug/*.c data/*.c eval/*.c))
LIBRARY_HEADERS  = simclr.h $(sort $(wildcard nn/*.h loss/*.h aug/*.h data/*.h eval/*.h))
INTERNAL_HEADERS = $(filter %_internal.h,$(LIBRARY_HEADERS))
PUBLIC_HEADERS   = $(filter-out $(INTERNAL_HEADERS),$(LIBRARY_HEADERS))
ifneq ($(MPI),1)
  LIBRARY_SOURCES := $(filter-out $(MPI_SOURCES),$(LIBRARY_SOURCES))
  PUBLIC_HEADERS  := $(filter-out $(MPI_HEADERS),$(PUBLIC_HEADERS))
endif
LIBRARY_OBJECTS = $(LIBRARY_SOURCES:.c=.o)

TEST_SOURCES = $(wildcard tests/test_*.c)
TEST_OBJECTS = $(TEST_SOURCES:.c=.o)
TEST_PROGRAM = tests/run_tests

# Every object depends on every header and on the flags: simple, and never stale.
BUILD_STAMP = .build-flags

.PHONY: all test run check-portable check-cortex-m check-sanitize check-kill check-circles check-reference check-mpi \
        install uninstall clean fuzz fuzz-run FORCE

all: $(PROGRAM) libsimclr.a

ifneq ($(EXE),)
.PHONY: simclr
simclr: $(PROGRAM) # `make simclr` builds the program whatever its suffix
endif

$(BUILD_STAMP): FORCE
	@echo '$(strip $(CC) $(MPI_COMPILER)) $(ALL_CFLAGS) $(ALL_LDFLAGS)' | cmp -s - $@ || echo '$(strip $(CC) $(MPI_COMPILER)) $(ALL_CFLAGS) $(ALL_LDFLAGS)' > $@

%.o: %.c $(LIBRARY_HEADERS) $(BUILD_STAMP)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# nn/maths.c (exp, log, cos for weights, losses and augmentations) gives the same bits on every
# platform only if every operation is rounded as written: no contraction, in every profile.
nn/maths.o: nn/maths.c $(LIBRARY_HEADERS) $(BUILD_STAMP)
	$(CC) $(ALL_CFLAGS) $(FP_CONTRACT_OFF) -c $< -o $@

# simclr.c holds the algorithm (part 1, into the library) and the program (part 2).
simclr_algorithm.o: simclr.c $(LIBRARY_HEADERS) $(BUILD_STAMP)
	$(CC) $(ALL_CFLAGS) -DSIMCLR_LIBRARY_ONLY -c simclr.c -o $@

simclr_program.o: simclr.c $(LIBRARY_HEADERS) $(BUILD_STAMP)
	$(CC) $(ALL_CFLAGS) -DSIMCLR_PROGRAM_ONLY -c simclr.c -o $@

libsimclr.a: $(LIBRARY_OBJECTS) simclr_algorithm.o
	rm -f $@
	$(AR) rcs $@ $(LIBRARY_OBJECTS) simclr_algorithm.o

$(PROGRAM): simclr_program.o libsimclr.a
	$(CC) $(ALL_CFLAGS) simclr_program.o libsimclr.a $(ALL_LDFLAGS) $(LIBS) -o $@

# The tests include Criterion's headers, which are not C99-pedantic clean: compile them without
# -pedantic (and with gnu99 for Criterion's macros), but with every other warning.
TEST_CFLAGS = $(filter-out -std=c99 -pedantic,$(ALL_CFLAGS)) -std=gnu99

tests/%.o: tests/%.c $(wildcard tests/*.h) $(LIBRARY_HEADERS) $(BUILD_STAMP)
	$(CC) $(TEST_CFLAGS) -c $< -o $@

$(TEST_PROGRAM): $(TEST_OBJECTS) libsimclr.a
	$(CC) $(TEST_CFLAGS) $(TEST_OBJECTS) libsimclr.a $(ALL_LDFLAGS) -lcriterion $(LIBS) -o $@

# The Criterion suite, then the library as a user installs it (make install into a temporary
# prefix, an example program built with pkg-config alone; tests/check_install.sh).
test: $(TEST_PROGRAM) $(PROGRAM)
	./$(TEST_PROGRAM)
	CC='$(CC)' CFLAGS='$(CFLAGS)' LDFLAGS='$(LDFLAGS)' bash tests/check_install.sh

# The main job: SimCLR on the built-in shapes (12 000 images, 32×32) with a small ResNet-18
# (width 1/8: 8-16-32-64 channels), four epochs (under 2 minutes on 2 cores), then the linear
# probe and kNN on the trained encoder and on the randomly initialised one it started from.
# The shapes differ only in form (colour, size, position and noise are random), so the raw
# pixels and a random encoder probe poorly; what SimCLR learned shows as the gap.
RUN_DIR ?= runs/shapes
run: $(PROGRAM)
	./simclr train --data builtin:shapes --out $(RUN_DIR) --epochs 4 --width 0.125 \
	    --batch 64 --lr 2.0 --temperature 0.2 --min-scale 0.3
	./simclr eval --checkpoint $(RUN_DIR)/checkpoint.safetensors --init both

# Checks beyond the test suite (each in its own copy of the tree; they install what they need
# when run as root): the portability matrix (gcc, clang, OpenMP on and off, PORTABLE=1, tcc,
# 32-bit x86, big-endian s390x and 32-bit ARM under qemu, Cortex-M4 and M33 under
# qemu-system-arm; ROWS="..." picks rows), the test
# suite under ASan + UBSan and a short training under valgrind, and SIGKILL at random moments
# of a training run (KILLS=20).
check-portable:
	bash tests/check_portable.sh

# The library on Cortex-M4 and M33 (arm-none-eabi-gcc, picolibc, FILES=0, a static arena, under
# qemu-system-arm): the harness tests/cortex_m/harness.c against the same harness on x86-64, byte
# for byte; also the cortex-m4 and cortex-m33 rows of check-portable.
check-cortex-m:
	bash tests/check_cortex_m.sh

check-sanitize:
	bash tests/check_sanitize.sh

check-kill: $(PROGRAM)
	bash tests/check_kill.sh

# Data-parallel training over MPI (tests/check_mpi.sh; needs mpicc and mpirun: Debian's
# libopenmpi-dev and openmpi-bin): a MPI=1 build in a copy of the tree, the engine's test
# (tests/mpi/test_ranks.c: the same bits as the pairwise tree for 1, 2 and 4 ranks, pieces,
# 3 ranks refused), then training with 1, 2 and 4 ranks against one process.
check-mpi:
	bash tests/check_mpi.sh

# The engine's own test program (MPI=1 builds only; run it under mpirun).
tests/mpi/test_ranks: tests/mpi/test_ranks.c libsimclr.a
	$(CC) $(ALL_CFLAGS) tests/mpi/test_ranks.c libsimclr.a $(ALL_LDFLAGS) $(LIBS) -o $@

# No circles: no two source files use each other's functions, directly or round a loop (read
# from the objects' symbol tables with nm).
check-circles: all
	bash tests/check_circles.sh

# The fast paths against the naive definitions: the reference outputs of a REFERENCE=1 build
# (every layer and the GEMM naive) against the default build's, within the PyTorch
# cross-check's tolerances.
check-reference:
	bash tests/check_reference.sh

# Fuzzing (clang with libFuzzer; Debian: clang and libclang-rt-14-dev). `make fuzz` builds one
# target per parser into tests/fuzz/; `make fuzz-run FUZZ_SECONDS=600` runs each in turn on its
# corpus in tests/fuzz/corpus/<target> (new inputs go to a scratch copy, the committed corpus
# stays small).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = gzip deflate idx pnm safetensors tar png jpeg metadata
FUZZ_FLAGS   = -std=c99 -g -O1 -I. -fsanitize=address,undefined -fno-omit-frame-pointer
FUZZ_SOURCES = $(filter-out $(MPI_SOURCES),$(LIBRARY_SOURCES)) simclr.c # the parsers: no MPI
# The library is compiled once, instrumented for the fuzzer (fuzzer-no-link), into
# tests/fuzz/obj/; each target is then its own entry point linked with those objects.
FUZZ_OBJECTS = $(FUZZ_SOURCES:%.c=tests/fuzz/obj/%.o)
.SECONDARY: $(FUZZ_OBJECTS)

fuzz: $(FUZZ_TARGETS:%=tests/fuzz/run-%)

tests/fuzz/obj/%.o: %.c $(LIBRARY_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -DSIMCLR_LIBRARY_ONLY -c $< -o $@

tests/fuzz/run-%: tests/fuzz/fuzz_parsers.c $(FUZZ_OBJECTS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -DSIMCLR_LIBRARY_ONLY \
	    -DFUZZ_TARGET=$(call fuzz_index,$*) tests/fuzz/fuzz_parsers.c $(FUZZ_OBJECTS) -lm -o $@

fuzz_index = $(if $(filter gzip,$1),1,$(if $(filter deflate,$1),2,$(if $(filter idx,$1),3,$(if $(filter pnm,$1),4,$(if $(filter safetensors,$1),5,$(if $(filter tar,$1),6,$(if $(filter png,$1),7,$(if $(filter jpeg,$1),8,9))))))))

fuzz-run: fuzz
	@for target in $(FUZZ_TARGETS); do \
	    rm -rf tests/fuzz/scratch-$$target; mkdir -p tests/fuzz/scratch-$$target; \
	    echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
	    if ./tests/fuzz/run-$$target -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=tests/fuzz/scratch-$$target/ \
	        tests/fuzz/scratch-$$target tests/fuzz/corpus/$$target > tests/fuzz/scratch-$$target.log 2>&1; \
	    then grep -E 'DONE|stat::number_of_executed_units' tests/fuzz/scratch-$$target.log | tail -2; \
	    else grep -E 'ERROR|SUMMARY|Test unit written' tests/fuzz/scratch-$$target.log; \
	         echo "fuzz: $$target FAILED (log: tests/fuzz/scratch-$$target.log)"; exit 1; fi; \
	done

# The installed headers are simclr.h and every public header it includes, under
# $(PREFIX)/include/simclr; simclr.pc tells pkg-config the flags (with -fopenmp when the library
# was built with OpenMP, since libsimclr.a then calls the OpenMP runtime).
INSTALL_DIRS = bin lib lib/pkgconfig include/simclr include/simclr/nn include/simclr/loss \
               include/simclr/aug include/simclr/data include/simclr/eval

install: all
	for d in $(INSTALL_DIRS); do mkdir -p $(DESTDIR)$(PREFIX)/$$d; done
	cp $(PROGRAM) $(DESTDIR)$(PREFIX)/bin/
	cp libsimclr.a $(DESTDIR)$(PREFIX)/lib/
	@printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include/simclr' 'libdir=$${prefix}/lib' '' \
	    'Name: simclr' 'Description: SimCLR in portable C99 (Chen et al. 2020)' \
	    'Version: $(shell sed -n 's/^\#define SIMCLR_VERSION "\(.*\)"/\1/p' simclr.h)' \
	    'Cflags: -I$${includedir} $(OPENMP_FLAGS)' 'Libs: -L$${libdir} -lsimclr $(OPENMP_FLAGS) $(MPI_LINK) -lm' \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/simclr.pc
	for h in $(PUBLIC_HEADERS); do cp $$h $(DESTDIR)$(PREFIX)/include/simclr/$$h; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/$(PROGRAM) $(DESTDIR)$(PREFIX)/lib/libsimclr.a \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/simclr.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/simclr

clean:
	rm -rf tests/fuzz/scratch-* tests/fuzz/obj $(FUZZ_TARGETS:%=tests/fuzz/run-%)
	rm -f simclr simclr.exe simclr.wasm simclr_algorithm.o simclr_program.o libsimclr.a $(LIBRARY_OBJECTS) $(MPI_SOURCES:.c=.o) $(TEST_OBJECTS) $(TEST_PROGRAM) $(BUILD_STAMP)
	rm -f tests/mpi/test_ranks
