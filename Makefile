# MCL face alignment in Caffe. `make help` lists the targets.
# The staged pipeline (Algorithm 1):  make data -> stage1 -> stage2 -> stage3 -> stage4 -> assemble
# Every target takes DATASET=aflw|cofw|300w (default aflw) and PROFILE=paper|long|cpu|quick|smoke (default cpu).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
export GLOG_minloglevel ?= 2

DATASET ?= aflw
PROFILE ?= cpu
# where the official dataset files are (defaults: the shared copies next to the clone)
DATA_ROOT_aflw := ../shared/data/mtfl-full
DATA_ROOT_300w := ../shared/data/300w
DATA_ROOT ?= $(DATA_ROOT_$(DATASET))
# HDF5 output root: data/<dataset>; the smoke profile keeps its small set apart in data/smoke/<dataset>
OUT ?= $(if $(filter smoke,$(PROFILE)),data/smoke,data)
# extra tools/make_data.py options; the smoke profile uses a small, lightly augmented subset
SMOKE_DATA_ARGS := --limit 600 --rotations 2 --jitters 2
ARGS ?= $(if $(filter smoke,$(PROFILE)),$(SMOKE_DATA_ARGS),)
# face-detector boxes of the paper's protocol (BOXES= crops every face from its ground-truth points instead):
# AFLW: the CUHK detector's boxes of the training faces (Sun et al.) and the MCL author's of the test faces
BOX_ROOT ?= ../shared/data/boxes
BOXES_aflw := --train-boxes $(BOX_ROOT)/cnn-facepoint/trainImageList.txt \
  --test-boxes $(BOX_ROOT)/aflw-bbox-annotation/AFLW_boundingbox.txt
BOXES ?= $(BOXES_$(DATASET))
# training runs go to $(RUNS)/<dataset>-<profile>/<stage>/
RUNS ?= runs
# THREADS=n: OpenBLAS threads of the training processes (default: all cores; THREADS=1 lets two runs share two cores)
THREADS ?=
# OMP_WAIT=passive|active|keep: how the training processes' idle OpenMP threads wait (runner --omp-wait-policy)
OMP_WAIT ?=
STAGE = $(PY) -m mcl_caffe.train.runner --dataset $(DATASET) --profile $(PROFILE) --data $(OUT)/$(DATASET) --runs $(RUNS) $(if $(THREADS),--threads $(THREADS)) $(if $(OMP_WAIT),--omp-wait-policy $(OMP_WAIT))
# CONTINUE_FROM=PATH: stage 1 starts from another run's snapshot or a kept checkpoint (runner --continue-from)
CONTINUE_FROM ?=

.PHONY: help setup test data contact-sheet stage1 stage2 stage3 stage4 assemble all prototxt

help:  ## list the targets
	@grep -E '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

setup:  ## install apt packages, .venv, and pycaffe built from source (cached; seconds the 2nd time)
	@bash tools/setup.sh

test: setup lint  ## lint, then run the whole pytest suite (sets up first)
	@$(PY) -m pytest

# ruff with flake8's checks (pyproject.toml) at the line length setup.cfg declares for flake8
LINE_LENGTH := $(shell sed -n 's/^max-line-length *= *//p' setup.cfg)
.PHONY: lint
lint: setup  ## ruff over mcl_caffe, tools and tests
	@$(VENV)/bin/ruff check --line-length $(LINE_LENGTH) mcl_caffe tools tests && echo "lint: ruff passed"

# mutation testing (setup.cfg [mutmut]): mutants of mcl_caffe/core and augment.py's flip code, each against
# the fast tests that cover it; CPU heavy (one worker), run occasionally, not by make test. MUTANTS= names the
# mutants (globs): all of the core and augment.py's flip functions; every named mutant is tried again on each run.
MUTANTS ?= "mcl_caffe.core.*" "mcl_caffe.data.augment.x_flip*" "mcl_caffe.data.augment.x_sample_image_points*"
.PHONY: mutation
mutation:  ## mutation testing of the core (mutmut, one worker, nice 19) -> runs/mutation/survivors.txt
	@test -x $(VENV)/bin/mutmut || { echo "make mutation: $(VENV)/bin/mutmut is missing: run make setup"; exit 2; }
	@mkdir -p $(RUNS)/mutation
	@MCL_SHARED_DATA=$(abspath ../shared/data) OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
	  nice -n 19 $(VENV)/bin/mutmut run --max-children 1 $(MUTANTS) > $(RUNS)/mutation/run.log 2>&1 \
	  || { tail -n 30 $(RUNS)/mutation/run.log; exit 1; }
	@tail -n 3 $(RUNS)/mutation/run.log
	@$(VENV)/bin/mutmut results > $(RUNS)/mutation/survivors.txt; \
	  echo "mutation: $$(grep -c ': survived' $(RUNS)/mutation/survivors.txt) survived, $$(grep -c \
	  ': no tests' $(RUNS)/mutation/survivors.txt) without a covering test ($(RUNS)/mutation/survivors.txt)"

.PHONY: lock fresh-check
lock:  ## re-resolve the Python packages to their newest versions into constraints.txt (then make test)
	@bash tools/lock_deps.sh
fresh-check:  ## clone HEAD into a temp folder with an empty Caffe cache and a new venv, and run make test there
	@bash tools/fresh_check.sh

# ---- data: official dataset files -> Caffe-ready HDF5 (tools/make_data.py --help explains everything)
# AFLW: box scaling and translation wide enough to cover the test crops from detector boxes (the 95th percentiles
# of how far the training faces' calibrated detector crops sit from their landmark crops); on validation this
# lowered stage 1's error from 8.12 to 7.60 % at equal schedule (reports/schedule-sweep/). With detector boxes, the
# training crops come from each face's own detector box by the test-time rule (--train-crop box): the data study's
# winner on validation, 5.42 % against 6.06 % for landmark-box crops (reports/data-study/STUDY.md)
AFLW_WIDE_BOXES := --max-shift 0.09 --scale-range 0.8 1.2
DATA_ARGS_aflw := $(AFLW_WIDE_BOXES) $(if $(BOXES),--train-crop box)
# 300-W: rotations within +-30 deg (make_data's own default is +-15): the data study's winner on validation, S 7.40 %
# against 10.20 % for +-15 and 7.49 % for +-45 (reports/data-study/STUDY.md)
DATA_ARGS_300w := --max-angle 30
data:  ## HDF5 for Caffe: make data DATASET=aflw|cofw|300w DATA_ROOT=... [OUT=data] [BOXES=] [ARGS="--limit 100 ..."]
	@test -n "$(DATA_ROOT)" || { echo "make data: set DATA_ROOT=<folder with the official $(DATASET) files>"; exit 2; }
	@$(PY) tools/make_data.py --dataset $(DATASET) --data-root "$(DATA_ROOT)" --out "$(OUT)" $(BOXES) $(DATA_ARGS_$(DATASET)) $(ARGS)

contact-sheet:  ## PNG of training patches with their points: make contact-sheet DATASET=aflw [OUT=data]
	@$(PY) tools/contact_sheet.py "$(OUT)/$(DATASET)/train.txt" -o "$(OUT)/$(DATASET)/contact_sheet.png"

# ---- training: one process per stage, each resuming from its newest snapshot (runs/<dataset>-<profile>/)
stage1:  ## pre-train the basic model BM (u_j = 1) [CONTINUE_FROM=runs/<dataset>-long for PROFILE=paper]
	@$(STAGE) stage1 $(if $(CONTINUE_FROM),--continue-from $(CONTINUE_FROM))
stage2:  ## weighting fine-tuning (Eq. 5), first six convolutions fixed
	@$(STAGE) stage2
stage3:  ## weighting fine-tuning of all layers -> WM
	@$(STAGE) stage3
stage4:  ## multi-center fine-tuning, one shape layer per cluster (Eqs. 6-9)
	@$(STAGE) stage4
assemble:  ## splice the cluster layers into one (Eq. 2) -> AM
	@$(STAGE) assemble

all: setup  ## the whole chain: data, stage1..stage4, assemble, ONNX export, report
	@if [ ! -f $(OUT)/$(DATASET)/train.txt ]; then $(MAKE) --no-print-directory data; fi
	@$(MAKE) --no-print-directory stage1 stage2 stage3 stage4 assemble onnx report

# ---- the long profile (issue 24): the paper's stage 1 to 90,000 iterations, its learning curve and checkpoints
# Every interrupted `make long` resumes from each stage's newest snapshot; a run folder without stage-1 snapshots
# starts from the newest checkpoint committed in reports/<dataset>-long/checkpoints/ (momentum from zero).
.PHONY: long curve keep-checkpoints
LONG_CHECKPOINTS = reports/$(DATASET)-long/checkpoints
long: setup  ## PROFILE=long's whole chain for DATASET: data, stage 1, checkpoints and curve, stages 2-4, report
	@if [ ! -f $(OUT)/$(DATASET)/train.txt ]; then $(MAKE) --no-print-directory data PROFILE=long; fi
	@$(MAKE) --no-print-directory stage1 PROFILE=long \
	  $(if $(wildcard $(LONG_CHECKPOINTS)/*.caffemodel),CONTINUE_FROM=$(LONG_CHECKPOINTS))
	@$(MAKE) --no-print-directory keep-checkpoints curve PROFILE=long
	@$(MAKE) --no-print-directory stage2 stage3 stage4 assemble onnx report PROFILE=long
# CURVE_EVERY: score the stage-1 snapshots at multiples of this; CURVE_REPORT: where CURVE.md and curve.png go
CURVE_EVERY ?= 10000
CURVE_REPORT ?= reports/$(DATASET)-$(PROFILE)
curve:  ## score new stage-1 snapshots (every CURVE_EVERY) on val and test lists -> CSV in the run, reports/<ds>-<profile>/CURVE.md
	@MCL_CURVE_COMMAND="make curve DATASET=$(DATASET) PROFILE=$(PROFILE) OUT=$(OUT) RUNS=$(RUNS) CURVE_EVERY=$(CURVE_EVERY)" \
	  $(PY) tools/curve.py --dataset $(DATASET) --run-dir $(RUNS)/$(DATASET)-$(PROFILE) --data $(OUT)/$(DATASET) \
	  --every $(CURVE_EVERY) --report-dir $(CURVE_REPORT)
# KEEP_EVERY: copy the stage-1 caffemodels at multiples of this (30,000: the long profile's lr decays)
# KEEP_NEWEST=1: also the newest snapshot, replacing the previous newest (at the end of a session: a replaced
# machine restarts from it, e.g. make all DATASET=aflw CONTINUE_FROM=reports/aflw-cpu/checkpoints)
KEEP_EVERY ?= 30000
KEEP_NEWEST ?=
CHECKPOINTS ?= reports/$(DATASET)-$(PROFILE)/checkpoints
keep-checkpoints:  ## copy stage-1 caffemodels at multiples of KEEP_EVERY [and the newest: KEEP_NEWEST=1] to reports/<ds>-<profile>/checkpoints/
	@$(PY) tools/keep_checkpoints.py --run-dir $(RUNS)/$(DATASET)-$(PROFILE) --out $(CHECKPOINTS) --every $(KEEP_EVERY) \
	  $(if $(KEEP_NEWEST),--newest)

prototxt:  ## regenerate the committed nets and solvers under prototxt/ and solvers/
	@$(PY) tools/gen_prototxt.py

# ---- deployment: ONNX export, INT8, speed (tools/export_onnx.py, tools/quantize_onnx.py, tools/bench.py --help)
.PHONY: onnx int8 bench
ONNX_DIR = $(RUNS)/$(DATASET)-$(PROFILE)/onnx
onnx:  ## export runs/<dataset>-<profile>/assemble to runs/<dataset>-<profile>/onnx/mcl.onnx
	@$(PY) tools/export_onnx.py --run-dir $(RUNS)/$(DATASET)-$(PROFILE)/assemble --out $(ONNX_DIR)/mcl.onnx
int8: onnx  ## INT8 model onnx/mcl.int8.onnx, calibrated on the run's training patches, + its NME change
	@$(PY) tools/quantize_onnx.py --onnx $(ONNX_DIR)/mcl.onnx --out $(ONNX_DIR)/mcl.int8.onnx \
	  $(if $(wildcard $(OUT)/$(DATASET)/train.txt),--train-list $(OUT)/$(DATASET)/train.txt) \
	  $(if $(wildcard $(OUT)/$(DATASET)/test.txt),--test-list $(OUT)/$(DATASET)/test.txt)
# ---- shipped models: models/<name>/ (-> mcl_caffe/models/, installed with the package; mcl_caffe/deploy/ship.py)
SHIP_NAME_aflw := aflw5
SHIP_NAME_300w := 300w68
.PHONY: ship requantize demo schedule-sweep
ship:  ## copy a finished run into models/<aflw5|300w68>/ with its INT8 file and MODEL.md (after make all)
	@MCL_SHIP_COMMAND="make ship DATASET=$(DATASET) PROFILE=$(PROFILE) OUT=$(OUT) RUNS=$(RUNS)" \
	  $(PY) tools/ship_model.py --name $(SHIP_NAME_$(DATASET)) --run-dir $(RUNS)/$(DATASET)-$(PROFILE) --data $(OUT)/$(DATASET)
requantize:  ## re-make a shipped model's mcl.int8.onnx with today's INT8 options and its card's INT8 figures (needs make data)
	@MCL_SHIP_COMMAND="make requantize DATASET=$(DATASET) OUT=$(OUT)" \
	  $(PY) tools/ship_model.py --name $(SHIP_NAME_$(DATASET)) --int8-only --data $(OUT)/$(DATASET)
# the paper's own IBUG output as a yardstick (mcl_caffe/evaluation/paper_compare.py; tools/paper_compare.py --help)
.PHONY: paper-compare
ONNX ?= models/300w68/mcl.onnx
COMPARE_OUT = $(if $(filter command line,$(origin OUT)),$(OUT),$(RUNS)/paper-compare)
INTO ?=
paper-compare:  ## a 68-point ONNX model against the paper's, face by face on IBUG: ONNX=... OUT=dir (or INTO=REPORT.md)
	@MCL_COMPARE_COMMAND="make paper-compare ONNX=$(ONNX)$(if $(INTO), INTO=$(INTO), OUT=$(COMPARE_OUT))" \
	  $(PY) tools/paper_compare.py --onnx $(ONNX) $(if $(INTO),--into $(INTO),--out $(COMPARE_OUT))
demo:  ## mcl-align with the shipped 68-point model on scikit-image's astronaut -> runs/demo/astronaut.png
	@mkdir -p $(RUNS)/demo
	@$(PY) -c "import skimage.data, cv2; cv2.imwrite('$(RUNS)/demo/astronaut.jpg', skimage.data.astronaut()[:, :, ::-1])"
	@$(VENV)/bin/mcl-align $(RUNS)/demo/astronaut.jpg --overlay-dir $(RUNS)/demo -o $(RUNS)/demo/astronaut.csv
	@echo "demo: points in $(RUNS)/demo/astronaut.csv, overlay in $(RUNS)/demo/astronaut.png"

# ---- the cpu profile's stage-1 schedule comparison (mcl_caffe/train/schedule_sweep.py; reports/schedule-sweep/)
SWEEP_ARGS ?=
schedule-sweep: setup  ## stage-1 schedules at equal wall time on AFLW validation -> reports/schedule-sweep/
	@if [ ! -f data-base/aflw/train.txt ]; then $(MAKE) --no-print-directory data DATASET=aflw OUT=data-base \
	  DATA_ARGS_aflw=; fi
	@if [ ! -f data-wide/aflw/train.txt ]; then $(MAKE) --no-print-directory data DATASET=aflw OUT=data-wide \
	  DATA_ARGS_aflw="$(AFLW_WIDE_BOXES)"; fi
	@$(PY) tools/schedule_sweep.py --data data-base/aflw --wide-data data-wide/aflw $(SWEEP_ARGS)
	@MCL_SWEEP_COMMAND="make schedule-sweep" $(PY) tools/schedule_sweep.py --data data-base/aflw \
	  --wide-data data-wide/aflw --report reports/schedule-sweep $(SWEEP_ARGS)
# stage 4's settings on a finished run's cached features (tools/stage4_sweep.py --help; reports/schedule-sweep/STAGE4.md)
.PHONY: stage4-sweep
STAGE4_CANDIDATES ?= 4000,2000,0.001,0.0005 4000,2000,0.001,0 60000,30000,0.001,0.0005 60000,30000,0.001,0
stage4-sweep:  ## stage-4 settings (ITERATIONS,STEPSIZE,LR,DECAY) retrained on a run's cached features, validation only
	@$(PY) tools/stage4_sweep.py --run-dir $(RUNS)/$(DATASET)-$(PROFILE) \
	  $(foreach c,$(STAGE4_CANDIDATES),--candidate $(c)) --out $(RUNS)/$(DATASET)-$(PROFILE)/stage4-sweep.md

# ---- the data study: make data's choices at an equal stage-1 budget, on validation only
# (mcl_caffe/train/data_study.py, tools/data_study.py --help; reports/data-study/)
STUDY ?= runs/data-study
.PHONY: data-study data-study-data
data-study-data: setup  ## every data-study candidate's HDF5 -> runs/data-study/data/<candidate>/<dataset>/
	@$(PY) tools/data_study.py --list-data | while read -r name ds args; do \
	  if [ ! -f $(STUDY)/data/$$name/$$ds/meta.json ]; then \
	    $(MAKE) --no-print-directory data DATASET=$$ds OUT=$(STUDY)/data/$$name ARGS="$$args" || exit 1; fi; \
	done
data-study: data-study-data  ## train each candidate's stage 1 (two lanes, resumable), report -> reports/data-study/
	@$(PY) tools/data_study.py --study $(STUDY) $(STUDY_ARGS)
	@MCL_STUDY_COMMAND="make data-study" $(PY) tools/data_study.py --study $(STUDY) $(STUDY_ARGS) \
	  --report reports/data-study

# BENCH_MODEL=300w68|aflw5 benchmarks a shipped model as committed (INT8: its mcl.int8.onnx, what mcl-align runs);
# BENCH_RUN=runs/<dataset>-<profile> a trained run (INT8 re-quantised); default: a random-weight 68-point net
BENCH_MODEL ?=
BENCH_RUN ?=
BENCH_ARGS ?=
bench:  ## speed: Caffe vs onnxruntime FP32 vs INT8, 1 face / 1 thread -> runs/bench/bench.{md,json}; then bench-pipeline
	@$(PY) tools/bench.py --out-dir $(RUNS)/bench $(if $(BENCH_MODEL),--model $(BENCH_MODEL)) \
	  $(if $(BENCH_RUN),--run-dir $(BENCH_RUN)) $(BENCH_ARGS)
	@$(MAKE) --no-print-directory bench-pipeline
# the whole mcl-align pipeline on generated photos: decode, detection, landmarks, images/s (tools/bench_pipeline.py --help)
BENCH_PIPELINE_ARGS ?=
.PHONY: bench-pipeline
bench-pipeline:  ## mcl-align on photos, images/s for decode/detection/landmarks, 1-2 threads, FP32/INT8 -> runs/bench-pipeline/
	@$(PY) tools/bench_pipeline.py --out-dir $(RUNS)/bench-pipeline $(BENCH_PIPELINE_ARGS)

# mcl-align-batch (Ray Data, 1 and 2 actors) vs one mcl-align process, FP32/INT8, on a tree of ~5000 real faces
# (tools/bench_batch.py --help; needs pip install .[scale]); BENCH_BATCH_ARGS="--images 200" for a quick run
BENCH_BATCH_ARGS ?=
.PHONY: bench-batch
bench-batch:  ## mcl-align-batch images/s, 1-2 actors, FP32/INT8, Ray overhead per image -> runs/bench-batch/
	@$(PY) tools/bench_batch.py --out-dir $(RUNS)/bench-batch $(BENCH_BATCH_ARGS)

# ---- face detectors for mcl-align (mcl_caffe/infer/detectors.py; tools/detector_bench.py --help)
.PHONY: detector-bench detector-calibration
# DETECTOR_MODEL=path/to/a/300w68.onnx for the NME columns (default: models/300w68/mcl.onnx when it exists)
DETECTOR_MODEL ?=
DETECTOR_BENCH_ARGS ?=
detector-bench:  ## detectors' hit rate, misses, ms/image, NME on AFW/HELEN/LFPW test/IBUG -> runs/detector-bench/
	@MCL_BENCH_COMMAND="make detector-bench$(if $(DETECTOR_MODEL), DETECTOR_MODEL=$(DETECTOR_MODEL))$(if $(DETECTOR_BENCH_ARGS), DETECTOR_BENCH_ARGS='$(DETECTOR_BENCH_ARGS)')" \
	  OMP_NUM_THREADS=1 $(PY) tools/detector_bench.py --out-dir $(RUNS)/detector-bench \
	  $(if $(DETECTOR_MODEL),--model $(DETECTOR_MODEL)) $(DETECTOR_BENCH_ARGS)
detector-calibration:  ## refit every detector's box calibration on training faces -> mcl_caffe/infer/detector_calibration.json
	@OMP_NUM_THREADS=1 $(PY) tools/fit_detector_calibration.py

# training speed: stage-1 solver steps of the 5- and 68-point nets on $(OUT)/aflw and $(OUT)/300w (tools/bench_train.py --help);
# BENCH_TRAIN_ARGS=--contention: s/iteration alone and beside a busy loop, OpenMP wait policy default vs passive, 1 and 2 threads
BENCH_TRAIN_ARGS ?=
.PHONY: bench-train
bench-train:  ## Caffe training speed, images/s, GFLOP/s vs a SGEMM, per-layer times -> runs/bench-train/
	@$(PY) tools/bench_train.py --data-root $(OUT) --out-dir $(RUNS)/bench-train $(BENCH_TRAIN_ARGS)

# ---- evaluation: the paper's metrics, tables and experiments (tools/report.py --help, tools/perturb.py --help)
.PHONY: report perturb publish-report
REPORT_ARGS ?=
report:  ## REPORT.md/.json + PNGs (Tables III/IV/VI/VII, CED) of a trained run -> runs/<dataset>-<profile>/report/
	@MCL_REPORT_COMMAND="make report DATASET=$(DATASET) PROFILE=$(PROFILE) OUT=$(OUT) RUNS=$(RUNS) $(REPORT_ARGS)" \
	  $(PY) tools/report.py --dataset $(DATASET) --profile $(PROFILE) --data $(OUT)/$(DATASET) --runs $(RUNS) \
	  --train-command "make all DATASET=$(DATASET) PROFILE=$(PROFILE) OUT=$(OUT) RUNS=$(RUNS)" $(REPORT_ARGS)
REPORT_SRC = $(RUNS)/$(DATASET)-$(PROFILE)/report
# (it keeps the folder's CURVE.md, curve.png, curve.csv and checkpoints/, which make curve and make keep-checkpoints write)
publish-report:  ## copy a run's REPORT.md and PNGs (no weights, no CSV/JSON) to reports/<dataset>-<profile>/ to commit
	@test -f $(REPORT_SRC)/REPORT.md || { echo "publish-report: no $(REPORT_SRC)/REPORT.md; run make report DATASET=$(DATASET) PROFILE=$(PROFILE) first" >&2; exit 1; }
	@mkdir -p reports/$(DATASET)-$(PROFILE) && find reports/$(DATASET)-$(PROFILE) -mindepth 1 -maxdepth 1 \
	  ! -name CURVE.md ! -name curve.png ! -name curve.csv ! -name checkpoints -exec rm -rf {} +
	@cp $(REPORT_SRC)/REPORT.md $(REPORT_SRC)/*.png reports/$(DATASET)-$(PROFILE)/
	@echo "publish-report: reports/$(DATASET)-$(PROFILE)/: $$(ls reports/$(DATASET)-$(PROFILE) | tr '\n' ' ')"
# Fig. 7 retrains stages 2-3 once per delta: a paper run is perturbed with the shorter cpu profile by default
PERTURB_PROFILE ?= $(if $(filter paper,$(PROFILE)),cpu,$(PROFILE))
DELTAS ?= 0 0.1 0.2 0.3 0.4
PERTURB_ARGS ?=
perturb:  ## Fig. 7: WM retrained from BM with u_j +/- delta per delta -> runs/<dataset>-<profile>/perturb/ (long)
	@$(PY) tools/perturb.py --dataset $(DATASET) --profile $(PROFILE) --train-profile $(PERTURB_PROFILE) \
	  --data $(OUT)/$(DATASET) --runs $(RUNS) --deltas $(DELTAS) $(PERTURB_ARGS)
# ---- data checks
.PHONY: eye-labels
EYE_ARGS ?=
eye-labels:  ## model-free check of eye labelling conventions per split and image source (aflw or 300w)
	@$(PY) tools/eye_label_offset.py --dataset $(DATASET) $(EYE_ARGS)
.PHONY: box-offsets
box-offsets:  ## where the 5 points sit in the AFLW protocol's detector boxes, train (Sun) vs test (author)
	@$(PY) tools/box_offsets.py
