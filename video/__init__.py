"""Video in: decode a video file and extract clip features the way the public feature releases were made.

``video.extract_video(path, recipe, weights)`` -> :class:`VideoFeatures`; ``video.RECIPES`` names the recipes
(docs/video-recipes.md); ``python -m train extract`` runs a folder.  Decoding needs PyAV
(``pip install -e ".[video]"``); importing this package does not.
"""

from video.backbones import WeightsError
from video.decode import VideoError, VideoUnavailable
from video.extract import Extractor, VideoFeatures, extract_folder, extract_video
from video.recipes import RECIPES, Recipe, get_recipe

__all__ = [
    "RECIPES",
    "Extractor",
    "Recipe",
    "VideoError",
    "VideoFeatures",
    "VideoUnavailable",
    "WeightsError",
    "extract_folder",
    "extract_video",
    "get_recipe",
]
