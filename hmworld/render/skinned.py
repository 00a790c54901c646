"""Skinned, animated, textured subjects for the embedded renderer (`subjects_style=asset`, the default).

Each catalog subject maps to a 0 A.D. model (hmworld.assets.zeroad); where it stands and which pose it shows
come from the asset body model (hmworld.assets.bodies), which the annotations and the compositor use too.
Meshes live in GPU buffers once per renderer; per frame the CPU computes the bone palette (pose @ inverse
bind, `hmworld.assets.skinning`) from the subject's walk phase, and the vertex shader blends up to four bones
per vertex. The fragment shader writes the same three attachments as the primitive program (lit RGB,
instance id, metric depth), so masks stay exact. Heads of people are separate meshes carried by the
skeleton's "head" prop point. With renderer.quality=game the same draw also fills the sun's depth map
(casting shadows), and the colour pass uses a variant of these shaders that receives them.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from hmworld.assets.bodies import MAX_BONES, AssetBodies, Motion
from hmworld.assets.formats import NO_BONE, Mesh
from hmworld.assets.skinning import prop_transform, skin_palette
from hmworld.assets.zeroad import ASSETS, asset_for_subject, head_variant, texture_path
from hmworld.errors import HMWorldError
from hmworld.render.glsl import LIGHTING_GLSL, OUTPUTS_GLSL, game_fragment_shader

MATERIAL_MODES = {"opaque": 0, "player": 1, "alpha": 2, "recolour": 3, "alpha_recolour": 4}

VERTEX_SHADER = """
#version 330
in vec3 in_pos;
in vec3 in_normal;
in vec2 in_uv;
in vec4 in_bones;
in vec4 in_weights;
layout(std140) uniform Palette { mat4 u_bones[128]; };
uniform mat4 u_model;
uniform mat4 u_view;
uniform mat4 u_proj;
out vec3 v_normal;
out vec2 v_uv;
out float v_depth;
void main() {
    float total = dot(in_weights, vec4(1.0));
    mat4 skin = mat4(1.0);
    if (total > 1e-6) {
        skin = (in_weights.x * u_bones[int(in_bones.x)] + in_weights.y * u_bones[int(in_bones.y)]
              + in_weights.z * u_bones[int(in_bones.z)] + in_weights.w * u_bones[int(in_bones.w)]) / total;
    }
    vec4 world = u_model * (skin * vec4(in_pos, 1.0));
    vec4 eye = u_view * world;
    v_normal = mat3(u_model) * (mat3(skin) * in_normal);
    v_uv = in_uv;
    v_depth = -eye.z;
    gl_Position = u_proj * eye;
}
"""

FRAGMENT_SHADER = """
#version 330
in vec3 v_normal;
in vec2 v_uv;
in float v_depth;
uniform sampler2D u_texture;
uniform vec3 u_tint;
uniform int u_mode;  // 0 opaque, 1 player colour where alpha < 1, 2 alpha-tested cut-outs, 3 recolour grey, 4: 2+3
uniform uint u_id;
""" + LIGHTING_GLSL + OUTPUTS_GLSL + """
void main() {
    vec4 tex = texture(u_texture, vec2(v_uv.x, 1.0 - v_uv.y));  // 0 A.D. uvs count v from the image's bottom
    if ((u_mode == 2 || u_mode == 4) && tex.a < 0.5) discard;  // no colour, id or depth: masks follow the cut-out
    vec3 albedo = u_mode == 1 ? tex.rgb * mix(u_tint, vec3(1.0), tex.a) : tex.rgb;
    if (u_mode >= 3) {  // unsaturated (white/grey) cloth takes the subject's colour; skin and leather keep theirs
        float sat = max(tex.r, max(tex.g, tex.b)) - min(tex.r, min(tex.g, tex.b));
        float cloth = 1.0 - smoothstep(0.05, 0.14, sat);
        albedo = mix(tex.rgb, u_tint * min(1.25 * max(tex.r, max(tex.g, tex.b)), 1.0), cloth);
    }
    vec3 n = normalize(v_normal);
    float sun = max(dot(n, u_sun_dir), 0.0);
    f_color = vec4(clamp(albedo * lighting(n, sun), 0.0, 1.0), 1.0);
    f_id = u_id;
    f_depth = v_depth;
}
"""

# Game quality: the shadow lookup needs the world position, which the basic shaders do not pass on
GAME_VERTEX_SHADER = (VERTEX_SHADER.replace("out float v_depth;", "out float v_depth;\nout vec3 v_world;")
                      .replace("v_depth = -eye.z;", "v_depth = -eye.z;\n    v_world = world.xyz;"))
GAME_FRAGMENT_SHADER = game_fragment_shader(FRAGMENT_SHADER.replace("in float v_depth;",
                                                                    "in float v_depth;\nin vec3 v_world;"))
assert GAME_VERTEX_SHADER.count("v_world =") == 1 and GAME_FRAGMENT_SHADER.count("in vec3 v_world;") == 1


def decode_texture(data: bytes, what: str) -> np.ndarray:
    """DDS (DXT1/3/5 or uncompressed) -> RGBA uint8 [H, W, 4], top row first, through Pillow."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGBA"), np.uint8).copy()
    except Exception as exc:  # Pillow raises several types for bad files
        raise HMWorldError(f"{what}: could not decode texture ({exc})") from exc


class _GpuMesh:
    """A mesh's buffers, with one vertex array per program that draws it (basic, and game quality's)."""

    def __init__(self, ctx, programs, mesh: Mesh):
        ids = mesh.bone_ids.astype(np.float32)
        weights = np.where(mesh.bone_ids == NO_BONE, 0.0, mesh.bone_weights).astype(np.float32)
        ids[mesh.bone_ids == NO_BONE] = 0.0
        if mesh.num_bones == 0:  # a rigid prop: every vertex follows palette entry 0 (its attachment frame)
            weights[:] = (1.0, 0.0, 0.0, 0.0)
        vertices = np.concatenate([mesh.positions, mesh.normals, mesh.uvs[:, 0], ids, weights], axis=1)
        self.vbo = ctx.buffer(np.ascontiguousarray(vertices, np.float32).tobytes())
        self.ibo = ctx.buffer(mesh.faces.astype(np.uint32).tobytes())
        self.vaos = {p.glo: ctx.vertex_array(p, [(self.vbo, "3f 3f 2f 4f 4f", "in_pos", "in_normal", "in_uv",
                                                  "in_bones", "in_weights")], index_buffer=self.ibo)
                     for p in programs}


@dataclass
class _Track:
    """One subject of the clip being drawn."""

    instance_id: int
    motion: Motion
    gpu: _GpuMesh
    gpu_head: _GpuMesh | None
    texture: object
    head_texture: object | None
    tint: tuple[float, float, float]
    hair: tuple[float, float, float]
    mode: int


class SkinnedSubjects:
    """Draws the subjects that have an asset into the embedded renderer's framebuffer."""

    def __init__(self, ctx, bodies: AssetBodies, quality: str = "basic"):
        import moderngl

        self.ctx, self.bodies, self.catalog, self.cache = ctx, bodies, bodies.catalog, bodies.cache
        self.program = ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=FRAGMENT_SHADER)
        # game quality: the colour pass's program also receives the sun's shadows (the basic one is unchanged)
        self.game_program = None
        if quality == "game":
            self.game_program = ctx.program(vertex_shader=GAME_VERTEX_SHADER, fragment_shader=GAME_FRAGMENT_SHADER)
            self.game_program["u_shadow_map"].value = 2
        self.programs = [self.program] + ([self.game_program] if self.game_program is not None else [])
        self.palette = ctx.buffer(reserve=MAX_BONES * 64, dynamic=True)
        for prog in self.programs:
            prog["Palette"].binding = 0
            prog["u_texture"].value = 1
        self._mipmap = (moderngl.LINEAR_MIPMAP_NEAREST, moderngl.LINEAR)
        self._gpu: dict[str, _GpuMesh] = {}
        self._textures: dict[str, object] = {}
        self._tracks: list[_Track] = []

    def supports(self, subject_name: str) -> bool:
        return self.bodies.has_asset(self.catalog.subjects[subject_name])

    def _gpu_mesh(self, key: str, mesh: Mesh) -> _GpuMesh:
        if key not in self._gpu:
            self._gpu[key] = _GpuMesh(self.ctx, self.programs, mesh)
        return self._gpu[key]

    def _texture(self, rel: str):
        if rel not in self._textures:
            rgba = decode_texture((self.cache / rel).read_bytes(), rel)
            tex = self.ctx.texture((rgba.shape[1], rgba.shape[0]), 4, rgba.tobytes())
            tex.build_mipmaps()
            tex.filter = self._mipmap
            self._textures[rel] = tex
        return self._textures[rel]

    def begin_clip(self, spec, lighting: dict, proj: bytes) -> set[int]:
        """Prepare the clip's subjects; returns the instance ids drawn here (the rest stay primitives)."""
        for p in self.programs:
            p["u_proj"].write(proj)
            for key, value in lighting.items():
                if key in p:
                    p[key].value = value
        self._tracks = []
        for t in spec.subjects:
            subject = self.catalog.subjects[t.name]
            if not self.bodies.has_asset(subject):
                continue
            name, variant = asset_for_subject(subject)
            spec_a = ASSETS[name]
            motion = self.bodies.motion(subject, t.positions, t.headings, t.walk_phase, spec.video.fps)
            head_tex = None
            if spec_a.head is not None:
                heads = spec_a.head.textures
                head_tex = self._texture(texture_path(heads[head_variant(subject) % len(heads)]))
            colors = subject.colors
            self._tracks.append(_Track(
                t.instance_id, motion, self._gpu_mesh(name, motion.asset.mesh),
                self._gpu_mesh(name + "/head", motion.asset.head) if motion.asset.head is not None else None,
                self._texture(texture_path(spec_a.textures[variant % len(spec_a.textures)])), head_tex,
                tuple(colors.get("top", colors.get("body", (0.5, 0.5, 0.5)))),
                tuple(colors.get("hair", (0.3, 0.2, 0.1))), MATERIAL_MODES[spec_a.material]))
        return {tr.instance_id for tr in self._tracks}

    def draw_frame(self, f: int, view: bytes, proj: bytes | None = None, light: bytes | None = None) -> None:
        """proj: another projection for this draw only (the sun's depth pass passes its whole matrix as
        `view` and the identity here); the clip's projection is restored afterwards. light: the sun's matrix,
        for game quality's colour pass (its program samples the shadow map bound to unit 2)."""
        p = self.program if light is None else self.game_program
        if light is not None:
            p["u_light"].write(light)
        p["u_view"].write(view)
        if proj is not None:
            clip_proj = p["u_proj"].read()
            p["u_proj"].write(proj)
        for tr in self._tracks:
            asset = tr.motion.asset
            pose = tr.motion.pose(f)
            p["u_id"].value = tr.instance_id
            p["u_model"].write(tr.motion.model[f].T.astype("f4").tobytes())
            self._draw(p, tr.gpu, skin_palette(asset.mesh, pose, asset.inv_bind), tr.texture, tr.tint, tr.mode)
            if tr.gpu_head is not None:
                head = prop_transform(asset.head_prop, pose)[None]
                self._draw(p, tr.gpu_head, head, tr.head_texture, tr.hair, MATERIAL_MODES["player"])
        if proj is not None:
            p["u_proj"].write(clip_proj)

    def _draw(self, program, gpu: _GpuMesh, palette: np.ndarray, texture, tint, mode: int) -> None:
        data = np.ascontiguousarray(palette.transpose(0, 2, 1), np.float32).tobytes()  # column-major mat4s
        self.palette.write(data)
        self.palette.bind_to_uniform_block(0)
        texture.use(1)
        program["u_tint"].value = tint
        program["u_mode"].value = mode
        gpu.vaos[program.glo].render()

    def close(self) -> None:
        for tex in self._textures.values():
            tex.release()
        for g in self._gpu.values():
            for vao in g.vaos.values():
                vao.release()
            g.vbo.release()
            g.ibo.release()
        self._textures, self._gpu = {}, {}
