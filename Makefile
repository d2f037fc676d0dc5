# MCL face alignment in Caffe. `make help` lists the targets.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
export GLOG_minloglevel ?= 2

.PHONY: help setup test

help:  ## list the targets
	@grep -E '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

setup:  ## install apt packages, .venv, and pycaffe built from source (cached; seconds the 2nd time)
	@bash tools/setup.sh

test: setup  ## run the whole pytest suite (sets up first)
	@$(PY) -m pytest
