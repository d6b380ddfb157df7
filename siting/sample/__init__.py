"""The embedded Yunnan sample: real divisions and census, modelled locations and children."""

from siting.sample.build import DEFAULT_SEED, SampleBuild, build_sample
from siting.sample.paths import SamplePaths, sample_paths

__all__ = ["DEFAULT_SEED", "SampleBuild", "SamplePaths", "build_sample", "sample_paths"]
