"""0 A.D. scenery in the embedded renderer (`renderer.props_style=asset`): the ground as a terrain texture and
the scene's props as static textured meshes (hmworld.assets.scenery places them; the compositor and the
pre-filter use the same placement's footprints).

The ground is one large quad whose texture coordinates are world metres over the terrain's repeat length, so
the pattern stays put while the camera moves; mipmaps keep it from shimmering towards the horizon (bilinear within
the nearest level, as the primitives' textures: anisotropic filtering, which would keep it sharper at grazing
angles, tripled the CPU time of a game-quality frame on llvmpipe, 345-404 against 133-135 ms at 832x480). Props are drawn one mesh per draw call with their model
matrix. The fragment shader writes the same three attachments as the other programs (lit RGB, id 0, metric
depth); alpha-tested materials (leaves) discard texels below one half before writing anything, so a cut-out
neither hides a subject's id nor its depth. With renderer.quality=game the same meshes fill the sun's depth
map (cut-outs included) and the colour pass receives the shadows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmworld.assets.scenery import PROP_ASSETS, AssetScene, MeshProp, Scenery, terrain_path
from hmworld.assets.zeroad import texture_path
from hmworld.errors import HMWorldError
from hmworld.render.base import GROUND_SIZE
from hmworld.render.glsl import BLOB_SHADOWS_GLSL, LIGHTING_GLSL, MAX_SHADOWS, OUTPUTS_GLSL, game_fragment_shader
from hmworld.render.skinned import decode_texture

MODES = {"opaque": 0, "alpha": 2}
GROUND_Z = -0.002  # the primitive ground's top: feet resting on z = 0 never z-fight with it

VERTEX_SHADER = """
#version 330
in vec3 in_pos;
in vec3 in_normal;
in vec2 in_uv;
uniform mat4 u_model;
uniform mat4 u_view;
uniform mat4 u_proj;
uniform float u_world_uv;  // > 0: terrain, texture coordinates are world x, y times this
out vec3 v_world;
out vec3 v_normal;
out vec2 v_uv;
out float v_depth;
void main() {
    vec4 world = u_model * vec4(in_pos, 1.0);
    vec4 eye = u_view * world;
    v_world = world.xyz;
    v_normal = mat3(u_model) * in_normal;
    // 0 A.D. uvs count v from the image's bottom
    v_uv = u_world_uv > 0.0 ? world.xy * u_world_uv : vec2(in_uv.x, 1.0 - in_uv.y);
    v_depth = -eye.z;
    gl_Position = u_proj * eye;
}
"""

FRAGMENT_SHADER = """
#version 330
in vec3 v_world;
in vec3 v_normal;
in vec2 v_uv;
in float v_depth;
uniform sampler2D u_texture;
uniform int u_mode;  // 0 opaque, 2 alpha-tested cut-outs
uniform int u_ground;  // the terrain receives the basic path's shadow discs
""" + LIGHTING_GLSL + BLOB_SHADOWS_GLSL + OUTPUTS_GLSL + """
void main() {
    vec4 tex = texture(u_texture, v_uv);
    if (u_mode == 2 && tex.a < 0.5) discard;  // no colour, id or depth: masks see through the cut-out
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;  // leaf cards are seen from both sides
    float sun = max(dot(n, u_sun_dir), 0.0);
    float shade = u_ground == 1 ? blob_shade(v_world.xy) : 1.0;
    f_color = vec4(clamp(tex.rgb * lighting(n, sun) * shade, 0.0, 1.0), 1.0);
    f_id = 0u;
    f_depth = v_depth;
}
"""
# Game quality's single-sample pass (ids and depth) and the sun's depth pass need no shading: only the alpha test,
# which must cut exactly the texels the colour passes cut (same texture, same coordinates, same threshold).
IDS_FRAGMENT_SHADER = """
#version 330
in vec2 v_uv;
in float v_depth;
uniform sampler2D u_texture;
uniform int u_mode;
""" + OUTPUTS_GLSL + """
void main() {
    if (u_mode == 2 && texture(u_texture, v_uv).a < 0.5) discard;
    f_color = vec4(0.0);
    f_id = 0u;
    f_depth = v_depth;
}
"""
GAME_FRAGMENT_SHADER = game_fragment_shader(FRAGMENT_SHADER)


@dataclass
class _Draw:
    vao: dict  # program glo -> vertex array
    model: bytes
    texture: object
    mode: int
    ground: bool


class SceneryRenderer:
    """Draws an asset scene's terrain and mesh props into the embedded renderer's current framebuffer."""

    def __init__(self, ctx, scenery: Scenery, quality: str = "basic"):
        import moderngl

        self.ctx, self.scenery = ctx, scenery
        self.program = ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=FRAGMENT_SHADER)
        self.game_program = self.ids_program = None
        if quality == "game":
            self.game_program = ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=GAME_FRAGMENT_SHADER)
            self.game_program["u_shadow_map"].value = 2
            self.ids_program = ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=IDS_FRAGMENT_SHADER)
        self.programs = [p for p in (self.program, self.game_program, self.ids_program) if p is not None]
        for p in self.programs:
            p["u_texture"].value = 3
        self._mipmap = (moderngl.LINEAR_MIPMAP_NEAREST, moderngl.LINEAR)
        self._meshes: dict[str, tuple] = {}  # asset name -> (vbo, ibo, {program glo: vao})
        self._textures: dict[str, object] = {}
        half = GROUND_SIZE / 2
        quad = np.array([[-half, -half, GROUND_Z, 0, 0, 1, 0, 0], [half, -half, GROUND_Z, 0, 0, 1, 0, 0],
                         [half, half, GROUND_Z, 0, 0, 1, 0, 0], [-half, half, GROUND_Z, 0, 0, 1, 0, 0]], "f4")
        self._ground = self._buffers(quad, np.array([0, 1, 2, 0, 2, 3], "u4"))
        self._draws: list[_Draw] = []

    # --------------------------------------------------------------------------------------- resources
    def _buffers(self, vertices: np.ndarray, faces: np.ndarray) -> tuple:
        vbo = self.ctx.buffer(np.ascontiguousarray(vertices, "f4").tobytes())
        ibo = self.ctx.buffer(np.ascontiguousarray(faces, "u4").tobytes())
        vaos = {}
        for p in self.programs:  # the linker drops attributes a program leaves unread (the ids pass: normals)
            layout = ("3f 3f 2f", "in_pos", "in_normal", "in_uv")
            if "in_normal" not in p:
                layout = ("3f 12x 2f", "in_pos", "in_uv")
            vaos[p.glo] = self.ctx.vertex_array(p, [(vbo, *layout)], index_buffer=ibo)
        return vbo, ibo, vaos

    def _mesh(self, name: str) -> dict:
        if name not in self._meshes:
            mesh = self.scenery.mesh(name)
            vertices = np.concatenate([mesh.positions, mesh.normals, mesh.uvs[:, 0]], axis=1)
            self._meshes[name] = self._buffers(vertices, mesh.faces.astype("u4"))
        return self._meshes[name][2]

    def _texture(self, rel: str):
        if rel not in self._textures:
            path = self.scenery.cache / rel
            if not path.is_file():
                raise HMWorldError(f"asset file {path} is missing; reinstall the cache with `hmworld assets`")
            rgba = decode_texture(path.read_bytes(), rel)
            tex = self.ctx.texture((rgba.shape[1], rgba.shape[0]), 4, rgba.tobytes())
            tex.build_mipmaps()
            tex.filter = self._mipmap
            self._textures[rel] = tex
        return self._textures[rel]

    # -------------------------------------------------------------------------------------------- draw
    def begin_clip(self, scene: AssetScene, lighting: dict, proj: bytes) -> None:
        for p in self.programs:
            p["u_proj"].write(proj)
            for key, value in lighting.items():
                if key in p:
                    p[key].value = value
        ground = self._texture(terrain_path(scene.terrain_texture))
        self._draws = [_Draw(self._ground[2], np.eye(4, dtype="f4").tobytes(), ground, MODES["opaque"], True)]
        self._tile = 1.0 / scene.terrain_tile_m
        for prop in scene.props:
            if not isinstance(prop, MeshProp):
                continue
            asset = PROP_ASSETS[prop.mesh]
            model = np.asarray(prop.model, "f4").reshape(4, 4).T.tobytes()  # column-major for GLSL
            self._draws.append(_Draw(self._mesh(prop.mesh), model, self._texture(texture_path(asset.texture)),
                                     MODES[asset.material], False))

    def draw(self, view: bytes, proj: bytes | None = None, light: bytes | None = None,
             shadows: np.ndarray | None = None, casters: bool = False, ids_only: bool = False) -> None:
        """proj: another projection for this draw only (the sun's depth pass: its matrix as `view`, identity
        here). light: the sun's matrix, for game quality's colour pass. shadows: the basic path's discs
        [MAX_SHADOWS, 4] on the ground. casters: props only (the ground only receives shadows). ids_only: game
        quality's id/depth and sun passes (no shading)."""
        p = self.ids_program if ids_only else (self.program if light is None else self.game_program)
        if light is not None:
            p["u_light"].write(light)
        p["u_view"].write(view)
        if proj is not None:
            clip_proj = p["u_proj"].read()
            p["u_proj"].write(proj)
        n = 0 if shadows is None else min(len(shadows), MAX_SHADOWS)
        if "u_num_shadows" in p:
            p["u_num_shadows"].value = n
            if n:  # the uniform array is written whole
                discs = np.zeros((MAX_SHADOWS, 4), "f4")
                discs[:n] = shadows[:n]
                p["u_shadows"].write(discs.tobytes())
        for d in self._draws:
            if casters and d.ground:
                continue
            p["u_model"].write(d.model)
            p["u_world_uv"].value = self._tile if d.ground else 0.0
            if "u_ground" in p:
                p["u_ground"].value = int(d.ground)
            p["u_mode"].value = d.mode
            d.texture.use(3)
            d.vao[p.glo].render()
        if proj is not None:
            p["u_proj"].write(clip_proj)

    def close(self) -> None:
        for tex in self._textures.values():
            tex.release()
        for vbo, ibo, vaos in [self._ground, *self._meshes.values()]:
            for vao in vaos.values():
                vao.release()
            vbo.release()
            ibo.release()
        self._textures, self._meshes = {}, {}
