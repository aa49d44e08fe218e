"""Lecture videos of a :class:`~viz3d.render.Scene`: orbit, fly-through and forward-pass pulse.

Every movie is one plotter built from the scene and a list of per-frame states (a camera, a
caption, a pulse time): only those change between frames, the scene is never rebuilt. Frames
are read from the render window into one reused buffer, bottom row first as OpenGL stores them,
and piped to ffmpeg (imageio-ffmpeg's bundled binary), which flips them while encoding.

:class:`MovieWriter` is the reusable part: H.264 MP4 (yuv420p) or GIF chosen by extension,
a progress bar, and an atomic write - frames go to a temporary file beside ``path`` that is
renamed over ``path`` only once the encoder has finished, so an interrupted or failed render
never leaves a partial file and never removes an earlier good one. The loss-landscape movies
use it too.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import queue
import signal
import tempfile
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pyvista as pv

from viz3d.errors import RenderError
from viz3d.files import file_mode
from viz3d.render.camera import Camera
from viz3d.render.pyvista.camera_paths import flythrough_cameras, orbit_cameras
from viz3d.render.pyvista.plotter import build_plotter, set_camera

log = logging.getLogger(__name__)

MovieKind = Literal["orbit", "flythrough", "forward-pass"]

#: File extensions and the ffmpeg codec that writes them.
CODECS = {".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".gif": "gif"}
#: x264 settings: "veryfast" leaves CPU for the renderer at little size cost on flat-shaded
#: scenes; CRF 20 is visually lossless for them.
H264_PARAMS = ["-preset", "veryfast", "-crf", "20", "-movflags", "+faststart"]
# one palette for the whole GIF (computed over every frame), dithered for smooth shading
_GIF_FILTER = "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a"
#: Frames a worker may render ahead of the encoder (bounds memory use with ``workers``).
_QUEUE_FRAMES = 4


class MovieWriter:
    """Write frames to an MP4 (H.264, yuv420p) or GIF file atomically, with a progress bar.

    Use it as a context manager: frames are encoded as they are appended into a temporary
    file in the same directory, renamed over ``path`` when the block exits normally. If the
    block raises (or ffmpeg fails), the temporary file is deleted and ``path`` is left as it
    was - an earlier movie there survives.

    Parameters
    ----------
    path : str or PathLike
        Output file; ``.mp4``/``.m4v``/``.mov`` (H.264) or ``.gif``.
    fps : float
        Frames per second (GIF frame delays are whole centiseconds; players round them).
    size : (int, int)
        Width and height of every frame in pixels; both even for H.264.
    bottom_up : bool, default: False
        Frames arrive bottom row first (as OpenGL reads them); ffmpeg flips them, which saves
        a copy per frame.
    total : int, optional
        Expected frame count, for the progress bar.
    progress : bool, default: True
        Show a tqdm progress bar.
    crf : int, default: 20
        H.264 quality (lower is better, 17-23 is typical).

    Attributes
    ----------
    frames : int
        Frames written so far.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from viz3d.render.pyvista.movie import MovieWriter
    >>> path = os.path.join(tempfile.mkdtemp(), "ramp.mp4")
    >>> with MovieWriter(path, fps=10, size=(64, 48), progress=False) as movie:
    ...     for k in range(10):
    ...         movie.append(np.full((48, 64, 3), 25 * k, dtype=np.uint8))
    >>> movie.frames, os.path.getsize(path) > 0
    (10, True)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        size: tuple[int, int],
        *,
        bottom_up: bool = False,
        total: int | None = None,
        progress: bool = True,
        crf: int = 20,
    ) -> None:
        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in CODECS:
            raise RenderError(
                f"cannot write a movie to {self.path}: unsupported extension {self.path.suffix!r}; "
                f"use one of {', '.join(CODECS)}"
            )
        self.width, self.height = (int(v) for v in size)
        if self.width < 2 or self.height < 2:
            raise RenderError(
                f"movie frames must be at least 2x2 pixels, got {self.width}x{self.height}"
            )
        if CODECS[self.suffix] == "libx264" and (self.width % 2 or self.height % 2):
            raise RenderError(
                f"H.264 (yuv420p) needs an even width and height, got {self.width}x{self.height}: "
                f"use {even_size(size)} (orbit_movie and friends round for you) or write a .gif"
            )
        if fps <= 0:
            raise RenderError(f"fps must be positive, got {fps}")
        if not self.path.parent.is_dir():
            raise RenderError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        self.fps = float(fps)
        self.bottom_up = bottom_up
        self.total = total
        self.progress = progress
        self.crf = int(crf)
        self.frames = 0
        self._temp: Path | None = None
        self._encoder: Any = None
        self._bar: Any = None

    def __enter__(self) -> Self:
        ffmpeg = _ffmpeg()
        fd, name = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=f".part{self.suffix}", dir=self.path.parent
        )
        os.close(fd)
        self._temp = Path(name)
        try:
            self._encoder = ffmpeg.write_frames(
                str(self._temp),
                (self.width, self.height),
                fps=self.fps,
                ffmpeg_log_level="error",
                **self._codec_args(),
            )
            self._encoder.send(None)  # starts ffmpeg
        except BaseException:
            self._discard()
            raise
        if self.progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.total, desc=f"writing {self.path.name}", unit="frame", leave=False
            )
        return self

    def append(self, frame: np.ndarray | bytes | memoryview) -> None:
        """Encode one ``(height, width, 3)`` uint8 RGB frame (bottom row first if ``bottom_up``).

        Any buffer of exactly ``width * height * 3`` bytes is accepted as is (no copy).
        """
        if self._encoder is None:
            raise RenderError("MovieWriter.append called outside its 'with' block")
        arr = frame if isinstance(frame, np.ndarray) else np.frombuffer(frame, dtype=np.uint8)
        if arr.dtype != np.uint8 or arr.size != self.width * self.height * 3:
            raise RenderError(
                f"frame {self.frames} of {self.path.name} is {arr.shape} {arr.dtype}; expected "
                f"({self.height}, {self.width}, 3) uint8 RGB"
            )
        try:
            self._encoder.send(np.ascontiguousarray(arr))
        except OSError as exc:
            raise RenderError(
                f"ffmpeg failed while writing {self.path} (frame {self.frames}): {exc}"
            ) from exc
        self.frames += 1
        if self._bar is not None:
            self._bar.update(1)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()
        if exc_type is not None:
            self._discard()
            return
        try:
            self._encoder.close()  # waits for ffmpeg to finish the file
            self._encoder = None
            if self.frames == 0:
                raise RenderError(f"no frames were written to {self.path}; nothing to save")
            if not self._temp.stat().st_size:
                raise RenderError(f"ffmpeg wrote an empty file for {self.path}")
            self._temp.chmod(file_mode())  # mkstemp makes it private; follow the umask
            os.replace(self._temp, self.path)
            self._temp = None
        except BaseException:
            self._discard()
            raise

    def _codec_args(self) -> dict[str, Any]:
        flip = ["vflip"] if self.bottom_up else []
        if CODECS[self.suffix] == "gif":
            return {
                "codec": "gif",
                "pix_fmt_out": "pal8",
                "quality": None,
                "macro_block_size": 1,
                "output_params": ["-vf", ",".join([*flip, _GIF_FILTER]), "-loop", "0"],
            }
        params = [*H264_PARAMS]
        params[params.index("-crf") + 1] = str(self.crf)
        return {
            "codec": "libx264",
            "pix_fmt_out": "yuv420p",
            "quality": None,
            # imageio would otherwise rescale to a multiple of 16 (1080 -> 1088)
            "macro_block_size": 2,
            "output_params": params + (["-vf", "vflip"] if flip else []),
        }

    def _discard(self) -> None:
        if self._encoder is not None:
            try:
                self._encoder.close()
            except (OSError, RuntimeError) as exc:  # the render error matters more than ffmpeg's
                log.debug("ffmpeg did not stop cleanly: %s", exc)
            self._encoder = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None


def write_movie(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike,
    fps: float = 30,
    *,
    total: int | None = None,
    progress: bool = True,
) -> Path:
    """Write an iterable of ``(height, width, 3)`` uint8 frames as an MP4 or GIF (atomically).

    The size is taken from the first frame. See :class:`MovieWriter`.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from viz3d.render.pyvista.movie import write_movie
    >>> frames = (np.full((32, 32, 3), 10 * k, dtype=np.uint8) for k in range(5))
    >>> target = os.path.join(tempfile.mkdtemp(), "fade.gif")
    >>> write_movie(frames, target, fps=5, progress=False).suffix
    '.gif'
    """
    it = iter(frames)
    try:
        first = np.asarray(next(it))
    except StopIteration:
        raise RenderError(f"write_movie got no frames for {path}") from None
    if first.ndim != 3 or first.shape[2] != 3:
        raise RenderError(f"movie frames must be (height, width, 3) RGB, got {first.shape}")
    with MovieWriter(
        path, fps, (first.shape[1], first.shape[0]), total=total, progress=progress
    ) as movie:
        movie.append(first)
        for frame in it:
            movie.append(frame)
    return Path(path)


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """Round a ``(width, height)`` down to even numbers (H.264 with yuv420p needs them).

    Examples
    --------
    >>> from viz3d.render.pyvista.movie import even_size
    >>> even_size((321, 240))
    (320, 240)
    """
    return (max(2, int(size[0]) // 2 * 2), max(2, int(size[1]) // 2 * 2))


# ----------------------------------------------------------------- the three movies
def orbit_movie(
    scene: Any,
    path: str | os.PathLike,
    seconds: float = 10,
    fps: int = 30,
    window_size: tuple[int, int] = (1920, 1080),
    *,
    elevation: float | None = None,
    turns: int = 1,
    title: str | None = None,
    caption: str | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Circle the camera around the scene at constant speed; the movie loops seamlessly.

    Frame ``k`` of ``N = seconds * fps`` is at azimuth ``2*pi*turns*k/N`` (starting from the
    scene camera's side), so the frame after the last would be the first: no repeated frame,
    no jump when a player loops it.

    Parameters
    ----------
    scene : Scene
        What to film (its plotter is built once; only the camera moves).
    path : str or PathLike
        ``.mp4`` (H.264) or ``.gif``; written atomically (see :class:`MovieWriter`).
    seconds : float, default: 10
        Length; the movie has ``round(seconds * fps)`` frames.
    fps : int, default: 30
        Frames per second.
    window_size : (int, int), default: (1920, 1080)
        Frame size; rounded down to even numbers for H.264 (with a warning).
    elevation : float, optional
        Camera height angle in degrees; by default the scene camera's, so frame 0 is the still
        (see :func:`~viz3d.render.pyvista.camera_paths.orbit_cameras`).
    turns : int, default: 1
        Full turns during the movie.
    title : str, optional
        Text at the top centre (e.g. the model name) for lectures.
    caption : str, optional
        Text at the bottom centre.
    progress : bool, default: True
        Show a progress bar.
    workers : int, optional
        Render in this many processes (each builds its own plotter from the pickled scene);
        ``None`` or 1 renders in this process.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> import pyvista as pv
    >>> from viz3d.render import Scene
    >>> from viz3d.render.pyvista.movie import orbit_movie
    >>> scene = Scene(background="black")
    >>> _ = scene.add_mesh(pv.Cube(x_length=3), name="box", color="orange")
    >>> out = orbit_movie(scene, os.path.join(tempfile.mkdtemp(), "spin.mp4"), seconds=1, fps=8,
    ...                   window_size=(160, 120), progress=False)
    >>> out.name
    'spin.mp4'
    """
    size, n = _check(path, seconds, fps, window_size)
    cams = orbit_cameras(scene, n, elevation=elevation, turns=turns, aspect=size[0] / size[1])
    shot = _Shot(cameras=cams, title=title, caption=caption)
    return _render_movie(
        scene, shot, path, fps=fps, window_size=size, progress=progress, workers=workers
    )


def flythrough_movie(
    scene: Any,
    path: str | os.PathLike,
    seconds: float = 12,
    fps: int = 30,
    window_size: tuple[int, int] = (1920, 1080),
    *,
    slow_down: float = 3.0,
    title: str | None = None,
    show_layer: bool = True,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Fly above the forward path from the input to the output, looking ahead.

    The camera follows the node centres in execution order (smoothed into a spline) and slows
    down at big layers; see :func:`viz3d.render.pyvista.camera_paths.flythrough_cameras`.

    Parameters
    ----------
    scene : Scene
        A scene from ``build_scene`` / ``enhanced_3d_visualization`` (needs ``node_id`` boxes).
    path : str or PathLike
        ``.mp4`` or ``.gif``.
    seconds, fps, window_size, title, progress, workers
        As in :func:`orbit_movie`.
    slow_down : float, default: 3.0
        How much the largest layer slows the camera (0: constant speed).
    show_layer : bool, default: True
        Caption each frame with the name of the layer ahead.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from viz3d.api import enhanced_3d_visualization
    >>> from viz3d.render.pyvista.movie import flythrough_movie
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    >>> scene = enhanced_3d_visualization(model, input_shape=(1, 8), show=False)
    >>> flythrough_movie(scene, os.path.join(tempfile.mkdtemp(), "fly.mp4"), seconds=1, fps=6,
    ...                  window_size=(160, 120), progress=False).suffix
    '.mp4'
    """
    size, n = _check(path, seconds, fps, window_size)
    cams, names = flythrough_cameras(scene, n, slow_down=slow_down)
    shot = _Shot(cameras=cams, captions=names if show_layer else None, title=title)
    return _render_movie(
        scene, shot, path, fps=fps, window_size=size, progress=progress, workers=workers
    )


def forward_pass_movie(
    scene: Any,
    path: str | os.PathLike,
    seconds: float = 8,
    fps: int = 30,
    window_size: tuple[int, int] = (1920, 1080),
    *,
    title: str | None = None,
    show_layer: bool = True,
    pulse: Literal["auto", "shader", "cpu"] = "auto",
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Animate a forward pass: a pulse runs along the edges and layers light up in execution order.

    Layers start dim, flash when the data reaches them and keep their scene colour
    (the traced activation by default) afterwards. The camera holds the scene's view. The
    animation is a GLSL effect (``shaders/pulse.glsl``, one uniform changed per frame) where
    the GL driver accepts it, else the same formula on the CPU (see
    :mod:`viz3d.render.pyvista.pulse`); the path used is logged at INFO level.

    Parameters
    ----------
    scene : Scene
        A scene from ``build_scene`` / ``enhanced_3d_visualization`` (needs ``node_id`` boxes).
    path : str or PathLike
        ``.mp4`` or ``.gif``.
    seconds, fps, window_size, title, progress, workers
        As in :func:`orbit_movie`.
    show_layer : bool, default: True
        Caption each frame with the name of the layer the data has just reached.
    pulse : {"auto", "shader", "cpu"}, default: "auto"
        Force the shader or the CPU path.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from viz3d.api import enhanced_3d_visualization
    >>> from viz3d.render.pyvista.movie import forward_pass_movie
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    >>> scene = enhanced_3d_visualization(model, input_shape=(1, 8), show=False)
    >>> forward_pass_movie(scene, os.path.join(tempfile.mkdtemp(), "pass.gif"), seconds=1, fps=6,
    ...                    window_size=(160, 120), progress=False).suffix
    '.gif'
    """
    if pulse not in ("auto", "shader", "cpu"):
        raise RenderError(f"pulse must be 'auto', 'shader' or 'cpu', got {pulse!r}")
    size, n = _check(path, seconds, fps, window_size)
    times = np.linspace(0.0, 1.0, n)
    shot = _Shot(
        cameras=None,
        pulse_times=times,
        pulse_mode=None if pulse == "auto" else pulse,
        show_layer=show_layer,
        title=title,
    )
    return _render_movie(
        scene, shot, path, fps=fps, window_size=size, progress=progress, workers=workers
    )


def movie_from_args(
    scene: Any,
    path: str | os.PathLike,
    kind: MovieKind,
    seconds: float | None = None,
    fps: int = 30,
    window_size: tuple[int, int] = (1920, 1080),
    **options: Any,
) -> Path:
    """The ``viz3d movie`` command: make an ``orbit``, ``flythrough`` or ``forward-pass`` movie.

    ``seconds=None`` uses each kind's default length; ``options`` go to the movie function.

    Examples
    --------
    >>> import os, tempfile
    >>> import pyvista as pv
    >>> from viz3d.render import Scene
    >>> from viz3d.render.pyvista.movie import movie_from_args
    >>> scene = Scene()
    >>> _ = scene.add_mesh(pv.Sphere(), name="ball")
    >>> movie_from_args(scene, os.path.join(tempfile.mkdtemp(), "m.mp4"), "orbit", seconds=0.5,
    ...                 fps=4, window_size=(96, 64), progress=False).name
    'm.mp4'
    """
    makers: dict[str, Callable[..., Path]] = {
        "orbit": orbit_movie,
        "flythrough": flythrough_movie,
        "forward-pass": forward_pass_movie,
    }
    if kind not in makers:
        raise RenderError(f"unknown movie kind {kind!r}; use one of {', '.join(makers)}")
    if seconds is not None:
        options["seconds"] = seconds
    return makers[kind](scene, path, fps=fps, window_size=window_size, **options)


# ----------------------------------------------------------------- rendering
@dataclass
class _Shot:
    """Everything that changes between frames, precomputed (picklable, for worker processes)."""

    cameras: list[Camera] | None = None
    captions: list[str] | None = None
    pulse_times: np.ndarray | None = None
    pulse_mode: str | None = None
    show_layer: bool = False
    title: str | None = None
    caption: str | None = None

    def __len__(self) -> int:
        return len(self.cameras) if self.cameras is not None else len(self.pulse_times)


class _Stage:
    """One plotter holding the scene, posed frame by frame (one per process)."""

    def __init__(self, scene: Any, shot: _Shot, window_size: tuple[int, int]) -> None:
        from vtkmodules.vtkCommonCore import vtkUnsignedCharArray

        from viz3d.render.pyvista.pulse import Pulse

        self.shot = shot
        self.size = window_size
        self.plotter = build_plotter(scene, True, window_size, interactive=False)
        self.pulse = (
            Pulse(scene, self.plotter, mode=shot.pulse_mode)
            if shot.pulse_times is not None
            else None
        )
        color = scene.texts[0].color if scene.texts else "white"
        if shot.title:
            _overlay(self.plotter, shot.title, 0.93, 0.042, color, bold=True)
        self._caption = None
        if (
            shot.caption
            or shot.captions is not None
            or (self.pulse is not None and shot.show_layer)
        ):
            self._caption = _overlay(self.plotter, shot.caption or "", 0.035, 0.034, color)
        self._buffer = vtkUnsignedCharArray()

    def frame(self, k: int) -> memoryview:
        """Render frame ``k``; its pixels, bottom row first (valid until the next call)."""
        shot, pl = self.shot, self.plotter
        if shot.cameras is not None:
            set_camera(pl, shot.cameras[k])
        text = None
        if self.pulse is not None:
            self.pulse.set_time(float(shot.pulse_times[k]))
            if shot.show_layer:
                text = self.pulse.layer_at(float(shot.pulse_times[k])) or "input"
        elif shot.captions is not None:
            text = shot.captions[k]
        if text is not None and self._caption is not None:
            self._caption.SetInput(text)
        pl.ren_win.Render()
        return _grab_frame(pl.ren_win, self._buffer, self.size)

    def close(self) -> None:
        self.plotter.close()


def _overlay(
    plotter: Any, text: str, y: float, height: float, color: Any, *, bold: bool = False
) -> Any:
    """A centred 2D text at height ``y`` (fraction of the frame), its font a fixed share of the
    frame height so it reads the same at 480p and 4K (corner annotations would rescale)."""
    from vtkmodules.vtkRenderingCore import vtkTextActor

    actor = vtkTextActor()
    actor.SetInput(text)
    prop = actor.GetTextProperty()
    prop.SetJustificationToCentered()
    prop.SetVerticalJustificationToBottom()
    prop.SetFontSize(max(8, round(height * plotter.window_size[1])))
    prop.SetColor(pv.Color(color).float_rgb)
    prop.SetBold(bold)
    prop.SetShadow(True)
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.GetPositionCoordinate().SetValue(0.5, y)
    plotter.add_actor(actor, reset_camera=False, pickable=False)
    return actor


def _grab_frame(ren_win: Any, buffer: Any, size: tuple[int, int]) -> memoryview:
    """Read the back buffer into ``buffer`` (reused) and expose it without copying."""
    w, h = size
    ren_win.GetPixelData(0, 0, w - 1, h - 1, 0, buffer, 0)
    return memoryview(buffer)


def _render_movie(
    scene: Any,
    shot: _Shot,
    path: str | os.PathLike,
    *,
    fps: float,
    window_size: tuple[int, int],
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Render every frame of ``shot`` and write them to ``path`` (used by the movie functions)."""
    n = len(shot)
    with MovieWriter(path, fps, window_size, bottom_up=True, total=n, progress=progress) as movie:
        for pixels in _frames(scene, shot, window_size, workers):
            movie.append(pixels)
    log.info("wrote %s (%d frames, %dx%d, %.3g fps)", path, n, window_size[0], window_size[1], fps)
    return Path(path)


def _frames(
    scene: Any, shot: _Shot, window_size: tuple[int, int], workers: int | None
) -> Iterator[Any]:
    n = len(shot)
    workers = max(1, min(int(workers or 1), n))
    if workers == 1:
        stage = _Stage(scene, shot, window_size)
        try:
            for k in range(n):
                yield stage.frame(k)
        finally:
            stage.close()
        return
    yield from _parallel_frames(scene, shot, window_size, workers)


def _parallel_frames(
    scene: Any, shot: _Shot, window_size: tuple[int, int], workers: int
) -> Iterator[bytes]:
    """Frames rendered by ``workers`` processes, frame ``k`` by worker ``k % workers``, in order.

    Each worker builds its own plotter from the pickled scene; frames come back through bounded
    queues, so at most a few frames per worker wait in memory. Spawned (not forked) processes:
    a forked GL context is not safe to use.
    """
    try:
        payload = pickle.dumps((scene, shot, window_size), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise RenderError(
            f"workers={workers} needs a picklable scene ({exc}); "
            "use workers=1 to render in this process"
        ) from exc
    ctx = mp.get_context("spawn")
    queues = [ctx.Queue(maxsize=_QUEUE_FRAMES) for _ in range(workers)]
    stop = ctx.Event()
    procs = [
        ctx.Process(target=_worker, args=(payload, w, workers, queues[w], stop), daemon=True)
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        for k in range(len(shot)):
            w = k % workers
            while True:
                try:
                    item = queues[w].get(timeout=5)
                    break
                except queue.Empty:
                    if not procs[w].is_alive():
                        raise RenderError(
                            f"render worker {w} died (exit code {procs[w].exitcode}) "
                            f"before frame {k}; "
                            "rerun with workers=1 to see the error in this process"
                        ) from None
            if isinstance(item, BaseException):
                raise RenderError(f"render worker {w} failed at frame {k}: {item!r}") from item
            yield item
    finally:
        stop.set()
        for q in queues:
            # unblock workers waiting on a full queue so they can see the stop flag
            while True:
                try:
                    q.get_nowait()
                except (queue.Empty, OSError, ValueError):
                    break
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()


def _worker(payload: bytes, index: int, workers: int, out: Any, stop: Any) -> None:
    # llvmpipe starts one render thread per core; with several workers that oversubscribes
    os.environ.setdefault("LP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")
    # Ctrl-C reaches the whole process group: the parent reports it once and stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        scene, shot, window_size = pickle.loads(payload)
        stage = _Stage(scene, shot, window_size)
        try:
            for k in range(index, len(shot), workers):
                frame = bytes(stage.frame(k))
                while not stop.is_set():
                    try:
                        out.put(frame, timeout=1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        finally:
            stage.close()
    except Exception as exc:  # noqa: BLE001 - any failure must reach the parent, which re-raises it
        out.put(RenderError(f"{type(exc).__name__}: {exc}"))


def _check(
    path: str | os.PathLike, seconds: float, fps: float, window_size: tuple[int, int]
) -> tuple[tuple[int, int], int]:
    """Validate the common arguments before any rendering; return the frame size and count."""
    suffix = Path(path).suffix.lower()
    if suffix not in CODECS:
        raise RenderError(
            f"cannot write a movie to {path}: unsupported extension {Path(path).suffix!r}; "
            "use one of "
            f"{', '.join(CODECS)}"
        )
    n = round(seconds * fps)
    if n < 2:
        raise RenderError(
            f"seconds * fps = {seconds} * {fps} gives {n} frame(s); a movie needs at least 2"
        )
    size = (int(window_size[0]), int(window_size[1]))
    if CODECS[suffix] == "libx264" and (size[0] % 2 or size[1] % 2):
        log.warning(
            "H.264 needs an even frame size: rendering %dx%d instead of %dx%d",
            *even_size(size),
            *size,
        )
        size = even_size(size)
    return size, n


def _ffmpeg() -> types.ModuleType:
    """imageio-ffmpeg, after checking that it can find an ffmpeg binary."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise RenderError("movies need imageio-ffmpeg: pip install imageio-ffmpeg") from exc
    try:
        imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise RenderError(
            f"no ffmpeg binary found ({exc}); "
            "pip install --force-reinstall imageio-ffmpeg (it bundles "
            "one) or set IMAGEIO_FFMPEG_EXE to an ffmpeg executable"
        ) from exc
    return imageio_ffmpeg
