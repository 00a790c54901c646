"""The embedded renderer: moderngl on a headless EGL context (Mesa llvmpipe on CPU, the vendor driver on GPU).

Everything drawn is an instance of a unit primitive (cube, sphere, cylinder, cone): the ground, walls and
props once per clip, every body part of every subject once per frame, and a sky box around the camera. One
instanced draw per primitive writes three attachments at once: lit RGB, the instance id (uint8) and metric
depth (float32), so the masks match the pixels exactly. Output is a pure function of the ClipSpec.
`quality=game` (opt-in) adds a shadow-map pass from the sun and a second, multisampled colour pass with an
analytic sky; ids and depth keep coming from the first pass, so masks are the basic path's exactly.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from hmworld.body import SUBJECT_STYLES, Body, body_model  # noqa: F401 (SUBJECT_STYLES: re-exported)
from hmworld.catalog import Catalog
from hmworld.clipspec import ClipSpec
from hmworld.devices import load_triton_first
from hmworld.errors import ConfigError, HMWorldError
from hmworld.geometry import gl_projection, gl_view
from hmworld.primitives import unit_mesh
from hmworld.render.base import Frame, Renderer, scene_instances, sky_instance, sun_direction
from hmworld.render.glsl import (BLOB_SHADOWS_GLSL, LIGHTING_GLSL, LIGHTING_UNIFORMS, MAX_SHADOWS, OUTPUTS_GLSL,
                                 game_fragment_shader)
from hmworld.render.textures import SIZE as TEX_SIZE
from hmworld.render.textures import texture_index, texture_stack

PRIMITIVES = ("cube", "sphere", "cylinder", "cone")
IDENTITY = np.eye(4, dtype="f4").tobytes()
SUBJECT_TEXTURE_SCALE = 2.5  # pattern repeats per metre on bodies (stripes, patches)
FLAG_LIT, FLAG_GROUND, FLAG_SKY = 0, 1, 2

INSTANCE_DTYPE = np.dtype([("model", "<f4", 16), ("color", "<f4", 3), ("size", "<f4", 3), ("tex", "<f4"),
                           ("tex_scale", "<f4"), ("id", "<u4"), ("flags", "<u4")])
INSTANCE_FORMAT = "16f 3f 3f 1f 1f 1u 1u /i"
INSTANCE_ATTRS = ("in_model", "in_color", "in_size", "in_tex", "in_tex_scale", "in_id", "in_flags")

VERTEX_SHADER = """
#version 330
in vec3 in_pos;
in vec3 in_normal;
in mat4 in_model;
in vec3 in_color;
in vec3 in_size;
in float in_tex;
in float in_tex_scale;
in uint in_id;
in uint in_flags;
uniform mat4 u_view;
uniform mat4 u_proj;
out vec3 v_world;
out vec3 v_normal;
out vec3 v_obj;
out vec3 v_objn;
out float v_depth;
flat out vec3 v_color;
flat out float v_tex;
flat out float v_tex_scale;
flat out uint v_id;
flat out uint v_flags;
void main() {
    vec4 world = in_model * vec4(in_pos, 1.0);
    vec4 eye = u_view * world;
    v_world = world.xyz;
    v_normal = transpose(inverse(mat3(in_model))) * in_normal;
    v_obj = in_pos * in_size;  // object-space metres: textures stay put on moving bodies
    v_objn = in_normal;
    v_depth = -eye.z;
    v_color = in_color;
    v_tex = in_tex;
    v_tex_scale = in_tex_scale;
    v_id = in_id;
    v_flags = in_flags;
    gl_Position = u_proj * eye;
}
"""

FRAGMENT_SHADER = """
#version 330
in vec3 v_world;
in vec3 v_normal;
in vec3 v_obj;
in vec3 v_objn;
in float v_depth;
flat in vec3 v_color;
flat in float v_tex;
flat in float v_tex_scale;
flat in uint v_id;
flat in uint v_flags;
uniform sampler2DArray u_textures;
uniform vec3 u_sky_top;
uniform vec3 u_sky_horizon;
uniform vec3 u_camera;
""" + LIGHTING_GLSL + BLOB_SHADOWS_GLSL + OUTPUTS_GLSL + """
void main() {
    if (v_flags == 2u) {
        vec3 dir = normalize(v_world - u_camera);
        f_color = vec4(mix(u_sky_horizon, u_sky_top, clamp(dir.z * 2.0, 0.0, 1.0)), 1.0);
        f_id = 0u;
        f_depth = 0.0;
        return;
    }
    vec3 an = abs(v_objn);
    vec2 uv = an.z >= max(an.x, an.y) ? v_obj.xy : (an.x >= an.y ? v_obj.yz : v_obj.xz);
    float modulation = texture(u_textures, vec3(uv * v_tex_scale, v_tex)).r * 2.0;
    vec3 n = normalize(v_normal);
    float sun = max(dot(n, u_sun_dir), 0.0);
    float shade = v_flags == 1u ? blob_shade(v_world.xy) : 1.0;  // only the ground receives blob shadows
    f_color = vec4(clamp(v_color * modulation * lighting(n, sun) * shade, 0.0, 1.0), 1.0);
    f_id = v_id;
    f_depth = v_depth;
}
"""


QUALITIES = ("basic", "game")
MSAA_SAMPLES = 4
TURBIDITY = 2.0  # haze of the analytic sky: 2 very clear .. 6 hazy (the model holds for 2..10)
SKY_EXPOSURE = 0.4  # scale of the sky luminance (zenith = 1) before the tone curve: a mid blue zenith

# Preetham, Shirley and Smits (1999), "A practical analytic model for daylight": the Perez luminance
# distribution F(theta, gamma) scaled by the zenith's luminance and chromaticity (functions of the sun's
# zenith angle and the turbidity), CIE xyY -> XYZ -> linear sRGB, an exponential tone curve and sRGB gamma.
# Written from the paper's formulas; theta is the view direction's zenith angle, gamma its angle to the sun.
PREETHAM_GLSL = """
uniform float u_turbidity;
uniform float u_sky_exposure;
vec3 perez(float cos_theta, float gamma, float cos_gamma, vec3 A, vec3 B, vec3 C, vec3 D, vec3 E) {
    return (1.0 + A * exp(B / max(cos_theta, 0.01))) * (1.0 + C * exp(D * gamma) + E * cos_gamma * cos_gamma);
}
vec3 analytic_sky(vec3 dir, vec3 sun) {
    float T = u_turbidity;
    vec3 A = vec3(0.1787 * T - 1.4630, -0.0193 * T - 0.2592, -0.0167 * T - 0.2608);
    vec3 B = vec3(-0.3554 * T + 0.4275, -0.0665 * T + 0.0008, -0.0950 * T + 0.0092);
    vec3 C = vec3(-0.0227 * T + 5.3251, -0.0004 * T + 0.2125, -0.0079 * T + 0.2102);
    vec3 D = vec3(0.1206 * T - 2.5771, -0.0641 * T - 0.8989, -0.0441 * T - 1.6537);
    vec3 E = vec3(-0.0670 * T + 0.3703, -0.0033 * T + 0.0452, -0.0109 * T + 0.0529);
    float ts = acos(clamp(sun.z, 0.0, 1.0));  // the sun's zenith angle
    vec3 t3 = vec3(ts * ts * ts, ts * ts, ts);
    float xz = T * T * dot(vec3(0.00166, -0.00375, 0.00209), t3)
             + T * (dot(vec3(-0.02903, 0.06377, -0.03202), t3) + 0.00394)
             + dot(vec3(0.11693, -0.21196, 0.06052), t3) + 0.25886;
    float yz = T * T * dot(vec3(0.00275, -0.00610, 0.00317), t3)
             + T * (dot(vec3(-0.04214, 0.08970, -0.04153), t3) + 0.00516)
             + dot(vec3(0.15346, -0.26756, 0.06670), t3) + 0.26688;
    vec3 d = normalize(vec3(dir.xy, max(dir.z, 0.02)));  // below the horizon: the horizon's colour
    float cos_gamma = clamp(dot(d, sun), -1.0, 1.0);
    vec3 f = perez(d.z, acos(cos_gamma), cos_gamma, A, B, C, D, E)
           / perez(1.0, ts, cos(ts), A, B, C, D, E);
    // components of A..E and f: (luminance Y, chromaticity x, chromaticity y); Y relative to the zenith's
    float x = xz * f.y, y = yz * f.z, Y = f.x * u_sky_exposure;
    vec3 XYZ = vec3(x / y * Y, Y, (1.0 - x - y) / y * Y);
    vec3 rgb = mat3(3.2406, -0.9689, 0.0557, -1.5372, 1.8758, -0.2040, -0.4986, 0.0415, 1.0570) * XYZ;
    rgb = 1.0 - exp(-max(rgb, 0.0));
    return pow(rgb, vec3(1.0 / 2.2));
}
"""
# Game quality's single-sample pass only has to give ids and depth (its colour is never read): the same vertex
# shader, so the same rasterisation and depth, without the texturing and lighting.
IDS_FRAGMENT_SHADER = """
#version 330
in float v_depth;
flat in uint v_id;
flat in uint v_flags;
""" + OUTPUTS_GLSL + """
void main() {
    f_color = vec4(0.0);
    f_id = v_flags == 2u ? 0u : v_id;
    f_depth = v_flags == 2u ? 0.0 : v_depth;
}
"""
# Buffer layouts for programs that read only some attributes: the others are skipped as explicit padding
# (the linker drops attributes a program leaves unread, and the byte offsets must still match the records)
IDS_LAYOUT = (("3f 12x", "in_pos"), ("16f 32x 1u 1u /i", "in_model", "in_id", "in_flags"))
DEPTH_LAYOUT = (("3f 12x", "in_pos"), ("16f 40x /i", "in_model"))
SHADOW_SIZE = 1024  # texels per side of the sun's depth map
SHADOW_HALF = 18.0  # metres: the map covers a square this far either side of a point 12 m ahead of the camera
SHADOW_AHEAD = 12.0
SHADOW_DEPTH = 120.0  # metres along the sun's rays the map's depth range spans

DEPTH_VERTEX_SHADER = """
#version 330
in vec3 in_pos;
in mat4 in_model;
uniform mat4 u_light;
void main() { gl_Position = u_light * (in_model * vec4(in_pos, 1.0)); }
"""
DEPTH_FRAGMENT_SHADER = """
#version 330
void main() {}
"""
SKY_BASIC = "f_color = vec4(mix(u_sky_horizon, u_sky_top, clamp(dir.z * 2.0, 0.0, 1.0)), 1.0);"
SKY_GAME = "f_color = vec4(analytic_sky(dir, normalize(u_sun_dir)), 1.0);"
GAME_FRAGMENT_SHADER = game_fragment_shader(FRAGMENT_SHADER, PREETHAM_GLSL).replace(SKY_BASIC, SKY_GAME)
assert GAME_FRAGMENT_SHADER.count(SKY_GAME) == 1


def sun_light_matrix(sun_dir: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """World -> the shadow map's clip space: an orthographic view along the sun's rays of a square of
    2 * SHADOW_HALF metres centred on the ground SHADOW_AHEAD metres in front of the camera, where subjects
    are (a fixed size, so a texel is always about 3.5 cm)."""
    forward = c2w[:3, 2].copy()
    forward[2] = 0.0
    norm = np.linalg.norm(forward)
    forward = forward / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])
    centre = np.array([c2w[0, 3], c2w[1, 3], 0.0]) + SHADOW_AHEAD * forward
    back = np.asarray(sun_dir, float) / np.linalg.norm(sun_dir)  # towards the sun: the view's +z
    up_hint = np.array([0.0, 0.0, 1.0]) if abs(back[2]) < 0.99 else np.array([0.0, 1.0, 0.0])
    right = np.cross(up_hint, back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    eye = centre + back * (SHADOW_DEPTH / 2)
    view = np.eye(4)
    view[:3, :3] = np.stack([right, up, back])
    view[:3, 3] = -view[:3, :3] @ eye
    ortho = np.diag([1.0 / SHADOW_HALF, 1.0 / SHADOW_HALF, -2.0 / SHADOW_DEPTH, 1.0])
    ortho[2, 3] = -1.0  # eye-space z in [-SHADOW_DEPTH, 0] -> [1, -1]
    return ortho @ view


def create_egl_context():
    """A headless OpenGL 3.3+ context through EGL; a clear error when EGL or Mesa is missing."""
    import moderngl

    load_triton_first()  # before the context: see hmworld.devices
    try:
        return moderngl.create_context(standalone=True, backend="egl", require=330)
    except Exception as exc:  # moderngl raises plain Exceptions for missing libraries
        raise HMWorldError(
            "could not create a headless EGL OpenGL context for the embedded renderer "
            f"({exc}). On Debian/Ubuntu install: libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri "
            "(scripts/setup.sh does this)") from exc


class EmbeddedRenderer(Renderer):
    name = "embedded"

    def __init__(self, catalog: Catalog, near: float = 0.1, far: float = 300.0, read_depth: bool = False,
                 subjects_style: str = "primitive", asset_cache: str | None = None, quality: str = "basic",
                 props_style: str = "primitive"):
        from hmworld.assets.scenery import Scenery, check_props_style

        super().__init__(catalog)
        # props_style=asset: 0 A.D. terrain and mesh props (hmworld/render/scenery.py), placed as the compositor
        # places them (the same catalog transformation); checked before the context exists, so a missing
        # asset cache is a clear error and nothing to release
        self.scenery = None
        if check_props_style(props_style) == "asset":
            self.scenery = Scenery(asset_cache)
            self.catalog = self.scenery.catalog(catalog)
        self.near, self.far, self.read_depth = near, far, read_depth
        if quality not in QUALITIES:
            raise ConfigError(f"renderer.quality must be one of {list(QUALITIES)}, got {quality!r}")
        # game: RGB from a 4x multisampled pass with the analytic sky; ids and depth still come from the
        # single-sample pass (a resolve would blend ids along edges), so masks are the basic path's exactly
        self.quality = quality
        # the body model (primitive | asset) the annotations and the compositor use too: one shape per subject
        self.bodies = body_model(catalog, subjects_style, asset_cache)
        self.ctx = create_egl_context()
        self.skinned = None
        if self.bodies.style == "asset":  # skinned 0 A.D. models (hmworld/render/skinned.py)
            from hmworld.render.skinned import SkinnedSubjects

            self.skinned = SkinnedSubjects(self.ctx, self.bodies, quality)
        self.scenery_renderer = None
        if self.scenery is not None:
            from hmworld.render.scenery import SceneryRenderer

            self.scenery_renderer = SceneryRenderer(self.ctx, self.scenery, quality)
        self.program = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=FRAGMENT_SHADER)
        self.game_program = None
        if quality == "game":
            self.game_program = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=GAME_FRAGMENT_SHADER)
            self.game_program["u_turbidity"].value = TURBIDITY
            self.game_program["u_sky_exposure"].value = SKY_EXPOSURE
            self.game_program["u_shadow_map"].value = 2
            self.ids_program = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=IDS_FRAGMENT_SHADER)
            self.depth_program = self.ctx.program(vertex_shader=DEPTH_VERTEX_SHADER,
                                                  fragment_shader=DEPTH_FRAGMENT_SHADER)
            self.shadow_map = self.ctx.depth_texture((SHADOW_SIZE, SHADOW_SIZE))
            self.shadow_map.compare_func = "<="  # a comparison sampler: texture() returns the lit fraction
            self.shadow_map.repeat_x = self.shadow_map.repeat_y = False
            self.shadow_fbo = self.ctx.framebuffer(depth_attachment=self.shadow_map)
        tex = texture_stack()
        self.textures = self.ctx.texture_array((TEX_SIZE, TEX_SIZE, tex.shape[0]), 1, tex.tobytes())
        self.textures.build_mipmaps()
        import moderngl

        # bilinear within the nearest mip level: ~1.4x faster than trilinear on llvmpipe, visually alike
        self.textures.filter = (moderngl.LINEAR_MIPMAP_NEAREST, moderngl.LINEAR)
        self.meshes = {}
        for prim in PRIMITIVES:
            pos, nrm = unit_mesh(prim)
            vbo = self.ctx.buffer(np.concatenate([pos, nrm], axis=1).astype("f4").tobytes())
            self.meshes[prim] = (vbo, len(pos))
        self._instance_buffers: dict[str, tuple] = {}  # primitive -> (buffer, {program: vertex array}, capacity)
        self._fbo_size = None

    # ------------------------------------------------------------------------------------- resources
    def _framebuffer(self, width: int, height: int):
        if self._fbo_size != (width, height):
            if self._fbo_size is not None:
                self.fbo.release()
                if self.quality == "game":
                    self.msaa_fbo.release()
                    self.resolved.release()
            self.color = self.ctx.texture((width, height), 4, dtype="f1")
            self.ids = self.ctx.texture((width, height), 1, dtype="u1")
            self.depth_tex = self.ctx.texture((width, height), 1, dtype="f4")
            self.depth_rb = self.ctx.depth_renderbuffer((width, height))
            self.fbo = self.ctx.framebuffer([self.color, self.ids, self.depth_tex], self.depth_rb)
            if self.quality == "game":
                samples = min(MSAA_SAMPLES, self.ctx.max_samples)
                self.msaa_fbo = self.ctx.framebuffer(self.ctx.renderbuffer((width, height), 4, samples=samples),
                                                     self.ctx.depth_renderbuffer((width, height), samples=samples))
                self.resolved = self.ctx.framebuffer(self.ctx.renderbuffer((width, height), 4))
            self._fbo_size = (width, height)
        return self.fbo

    def close(self) -> None:
        if getattr(self, "scenery_renderer", None) is not None:
            self.scenery_renderer.close()
            self.scenery_renderer = None
        if getattr(self, "skinned", None) is not None:
            self.skinned.close()
            self.skinned = None
        if getattr(self, "ctx", None) is not None:
            self.ctx.release()
            self.ctx = None

    # ---------------------------------------------------------------------------------------- render
    def render(self, spec: ClipSpec) -> Iterator[Frame]:
        frames = self._frames(spec)
        while True:
            # every GL call runs with this renderer's context current: another renderer created or used in
            # the same process since (a test's second renderer, a benchmark's) leaves its own context current
            with self.ctx:
                frame = next(frames, None)
            if frame is None:
                return
            yield frame

    def _frames(self, spec: ClipSpec) -> Iterator[Frame]:
        import moderngl

        scene = self.catalog.scenes[spec.scene]
        width, height = spec.video.width, spec.video.height
        fbo = self._framebuffer(width, height)
        lt = scene.lighting
        p = self.program
        game = self.game_program
        programs = [p] if game is None else [p, game, self.ids_program]  # the same uniforms for every pass

        def uniform(name: str, value=None, data: bytes | None = None) -> None:
            for prog in programs:
                if prog is not p and name not in prog:  # e.g. the analytic sky leaves the sky colours unused
                    continue
                if data is not None:
                    prog[name].write(data)
                else:
                    prog[name].value = value

        uniform("u_proj", data=gl_projection(spec.intrinsics, width, height, self.near, self.far).T.astype("f4")
                .tobytes())
        uniform("u_sun_dir", tuple(sun_direction(scene)))
        uniform("u_sun_color", lt.sun_color)
        uniform("u_ambient", lt.ambient)
        # skylight: mostly neutral, a quarter tinted by the sky colour
        uniform("u_ambient_tint", tuple(0.75 + 0.25 * np.asarray(lt.sky_top) / max(lt.sky_top)))
        uniform("u_sky_top", lt.sky_top)
        uniform("u_sky_horizon", lt.sky_horizon)
        uniform("u_textures", 0)

        scenery = self.scenery_renderer
        static = _static_records(scene, with_ground=scenery is None)  # asset scenery: terrain and mesh props
        lighting = {k: p[k].value for k in LIGHTING_UNIFORMS}
        if scenery is not None:
            scenery.begin_clip(scene, lighting, p["u_proj"].read())
        skinned = set()
        if self.skinned is not None:
            skinned = self.skinned.begin_clip(spec, lighting, p["u_proj"].read())
        drawn = [(self.bodies.primitive_body(t.name), t) for t in spec.subjects if t.instance_id not in skinned]
        posed = [b.posed_transforms(t.positions, t.headings, t.walk_phase) for b, t in drawn]
        dynamic_meta = [_body_records(b, t.instance_id) for b, t in drawn]
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)
        fbo.use()
        self.textures.use(0)
        for f in range(spec.num_frames):
            c2w = spec.camera_c2w[f]
            view = gl_view(c2w).T.astype("f4").tobytes()
            uniform("u_view", data=view)
            uniform("u_camera", tuple(c2w[:3, 3]))
            shadows = np.zeros((MAX_SHADOWS, 4), "f4")
            for j, t in enumerate(spec.subjects[:MAX_SHADOWS]):
                radius = self.catalog.subjects[t.name].radius
                shadows[j] = (t.positions[f, 0], t.positions[f, 1], 1.1 * radius + 0.15, 0.45)
            uniform("u_shadows", data=shadows.tobytes())
            uniform("u_num_shadows", min(len(spec.subjects), MAX_SHADOWS))
            records = {prim: [static[prim]] for prim in PRIMITIVES}
            for meta, transforms in zip(dynamic_meta, posed):
                for prim, (rec, idx) in meta.items():
                    rec = rec.copy()
                    rec["model"] = transforms[f, idx].transpose(0, 2, 1).reshape(-1, 16)
                    records[prim].append(rec)
            sky = np.zeros(1, INSTANCE_DTYPE)
            sky["model"] = sky_instance(c2w[:3, 3], 280.0).T.reshape(16)
            sky["size"], sky["flags"] = 1.0, FLAG_SKY
            records["cube"].append(sky)
            data = {prim: np.concatenate(records[prim]) for prim in PRIMITIVES}
            fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            for prim in PRIMITIVES:
                if len(data[prim]):
                    if game is None:
                        self._draw(prim, data[prim])
                    else:
                        self._draw(prim, data[prim], self.ids_program, IDS_LAYOUT)
            if skinned:
                self.skinned.draw_frame(f, view)
            if scenery is not None:
                if game is None:
                    scenery.draw(view, shadows=shadows[:min(len(spec.subjects), MAX_SHADOWS)])
                else:
                    scenery.draw(view, ids_only=True)
            if game is not None:  # the same scene again, multisampled, colour only; resolved for readback
                light = sun_light_matrix(sun_direction(scene), c2w).T.astype("f4").tobytes()
                self.shadow_fbo.use()
                self.shadow_fbo.clear(depth=1.0)
                self.depth_program["u_light"].write(light)
                for prim in PRIMITIVES:  # casters: everything but the ground (it only receives) and the sky
                    casters = data[prim][(data[prim]["flags"] == FLAG_LIT)]
                    if len(casters):
                        self._draw(prim, casters, self.depth_program, DEPTH_LAYOUT)
                if skinned:
                    self.skinned.draw_frame(f, light, proj=IDENTITY)
                if scenery is not None:
                    scenery.draw(light, proj=IDENTITY, casters=True, ids_only=True)
                game["u_light"].write(light)
                game["u_num_shadows"].value = 0  # real shadows replace the dark discs
                self.shadow_map.use(2)
                self.msaa_fbo.use()
                self.msaa_fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                for prim in PRIMITIVES:
                    if len(data[prim]):
                        self._draw(prim, data[prim], game)
                if skinned:
                    self.skinned.draw_frame(f, view, light=light)
                if scenery is not None:
                    scenery.draw(view, light=light)
                self.ctx.copy_framebuffer(self.resolved, self.msaa_fbo)
                fbo.use()
            yield self._read(width, height)

    def _draw(self, prim: str, data: np.ndarray, program=None, layout=None) -> None:
        """One instanced draw; the instance buffer and its vertex arrays (one per program) are reused and grown
        on demand."""
        program = self.program if program is None else program
        buf, vaos, capacity = self._instance_buffers.get(prim, (None, {}, 0))
        if len(data) > capacity:
            for vao in vaos.values():
                vao.release()
            if buf is not None:
                buf.release()
            capacity = max(64, 2 * len(data))
            buf = self.ctx.buffer(reserve=capacity * INSTANCE_DTYPE.itemsize, dynamic=True)
            vaos = {}
            self._instance_buffers[prim] = (buf, vaos, capacity)
        if program.glo not in vaos:
            vbo, _ = self.meshes[prim]
            if layout is None:
                content = [(vbo, "3f 3f", "in_pos", "in_normal"), (buf, INSTANCE_FORMAT, *INSTANCE_ATTRS)]
            else:
                content = [(vbo, *layout[0]), (buf, *layout[1])]
            vaos[program.glo] = self.ctx.vertex_array(program, content)
        buf.write(data.tobytes())
        vaos[program.glo].render(instances=len(data))

    def _read(self, width: int, height: int) -> Frame:
        # readback is bottom-up; flip to top-down image rows. Game quality: RGB from the resolved MSAA pass.
        rgb_fbo = self.fbo if self.game_program is None else self.resolved
        rgb = np.frombuffer(rgb_fbo.read(components=3, attachment=0), np.uint8).reshape(height, width, 3)[::-1]
        ids = np.frombuffer(self.fbo.read(components=1, attachment=1, dtype="u1"), np.uint8).reshape(height, width)[::-1]
        depth = None
        if self.read_depth:
            depth = np.frombuffer(self.fbo.read(components=1, attachment=2, dtype="f4"), np.float32)
            depth = depth.reshape(height, width)[::-1].copy()
        return Frame(np.ascontiguousarray(rgb), np.ascontiguousarray(ids), depth)


def _static_records(scene, with_ground: bool = True) -> dict[str, np.ndarray]:
    """Instance records of the scene's primitives; mesh props (props_style=asset) are drawn elsewhere, and so is
    the ground when `with_ground` is false (the terrain)."""
    from hmworld.assets.scenery import MeshProp

    by_prim: dict[str, list] = {prim: [] for prim in PRIMITIVES}
    if any(isinstance(p, MeshProp) for p in scene.props):
        scene = dataclasses.replace(scene, props=tuple(p for p in scene.props if not isinstance(p, MeshProp)))
    for inst in scene_instances(scene):
        if inst.ground and not with_ground:
            continue
        rec = np.zeros(1, INSTANCE_DTYPE)
        rec["model"] = inst.model.T.reshape(16)
        rec["color"] = inst.material.color
        rec["size"] = inst.size
        rec["tex"] = texture_index(inst.material.texture)
        rec["tex_scale"] = inst.material.texture_scale
        rec["flags"] = FLAG_GROUND if inst.ground else FLAG_LIT
        by_prim[inst.primitive].append(rec)
    return {prim: (np.concatenate(r) if r else np.zeros(0, INSTANCE_DTYPE)) for prim, r in by_prim.items()}


def _body_records(body: Body, instance_id: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per primitive: instance records of the body's parts (model filled per frame) and their part indices."""
    colors, textures = body.colors(), body.textures()
    sizes = np.linalg.norm(body.rest[:, :3, :3], axis=1)  # column norms = part sizes in metres
    out = {}
    names = body.primitive_names()
    for prim in PRIMITIVES:
        idx = np.array([i for i, n in enumerate(names) if n == prim], int)
        if len(idx) == 0:
            continue
        rec = np.zeros(len(idx), INSTANCE_DTYPE)
        rec["color"] = colors[idx]
        rec["size"] = sizes[idx]
        rec["tex"] = [texture_index(textures[i]) for i in idx]
        rec["tex_scale"] = SUBJECT_TEXTURE_SCALE
        rec["id"] = instance_id
        rec["flags"] = FLAG_LIT
        out[prim] = (rec, idx)
    return out
