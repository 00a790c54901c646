"""GLSL shared by the embedded renderer's colour programs: primitives (hmworld.render.embedded), skinned subjects
(hmworld.render.skinned) and 0 A.D. scenery (hmworld.render.scenery).

They light with the same uniforms and formula, write the same three attachments, and turn into their
`quality=game` versions the same way, so a subject, a prop and the ground under them match in light and shadow.
Shaders are assembled by concatenating these pieces (GLSL's braces make Python format strings awkward).
"""
from __future__ import annotations

MAX_SHADOWS = 3  # the basic path's blob shadows: one under each of the first subjects

# The renderer sets these once per clip on every colour program
LIGHTING_UNIFORMS = ("u_sun_dir", "u_sun_color", "u_ambient", "u_ambient_tint")
LIGHTING_GLSL = """
uniform vec3 u_sun_dir;
uniform vec3 u_sun_color;
uniform float u_ambient;
uniform vec3 u_ambient_tint;
// a surface's light from its normal n and its sun term (1 facing the sun, 0 away or in shadow)
vec3 lighting(vec3 n, float sun) {
    return u_ambient * u_ambient_tint * (0.8 + 0.2 * n.z) + (1.0 - 0.5 * u_ambient) * u_sun_color * sun;
}
"""

# The basic path's soft discs under the subjects, which the ground receives instead of a shadow map
BLOB_SHADOWS_GLSL = f"""
uniform vec4 u_shadows[{MAX_SHADOWS}];  // x, y, radius, strength of blob shadows under subjects
uniform int u_num_shadows;
float blob_shade(vec2 xy) {{
    float shade = 1.0;
    for (int i = 0; i < u_num_shadows; ++i) {{
        float d = length(xy - u_shadows[i].xy) / u_shadows[i].z;
        shade *= 1.0 - u_shadows[i].w * (1.0 - smoothstep(0.55, 1.0, d));
    }}
    return shade;
}}
"""

# Every program, the id/depth-only ones included, writes these attachments of the renderer's framebuffer
OUTPUTS_GLSL = """
layout(location = 0) out vec4 f_color;
layout(location = 1) out uint f_id;
layout(location = 2) out float f_depth;
"""

# Game quality: the sun's term is also scaled by how much of the sun the shadow map sees (needs v_world)
SHADOW_GLSL = """
uniform sampler2DShadow u_shadow_map;
uniform mat4 u_light;
float sunlit(vec3 world, vec3 n) {
    vec4 ls = u_light * vec4(world, 1.0);
    vec3 c = ls.xyz / ls.w * 0.5 + 0.5;
    if (any(lessThan(c, vec3(0.0))) || any(greaterThan(c, vec3(1.0)))) return 1.0;  // outside the map: lit
    float bias = 0.0015 + 0.003 * (1.0 - abs(dot(n, u_sun_dir)));  // slope-scaled, against self-shadowing acne
    vec2 texel = 1.0 / vec2(textureSize(u_shadow_map, 0));
    float lit = 0.0;  // 2x2 taps, each bilinearly filtered by the comparison sampler: a soft edge of ~2 texels
    for (int i = 0; i < 2; ++i) for (int j = 0; j < 2; ++j)
        lit += texture(u_shadow_map, vec3(c.xy + (vec2(i, j) - 0.5) * texel, c.z - bias));
    return lit * 0.25;
}
"""
# The basic shaders' sun term, the line game quality rewrites
SUN_BASIC = "float sun = max(dot(n, u_sun_dir), 0.0);"
SUN_GAME = "float sun = max(dot(n, u_sun_dir), 0.0) * sunlit(v_world, n);"


def game_fragment_shader(basic: str, extra_glsl: str = "") -> str:
    """A basic colour program's fragment shader -> its game-quality version: SHADOW_GLSL (after extra_glsl,
    e.g. more functions) declared before the outputs, and the sun term shadowed by the sun's depth map."""
    assert basic.count(OUTPUTS_GLSL) == 1 and basic.count(SUN_BASIC) == 1, "not a basic colour shader"
    return basic.replace(OUTPUTS_GLSL, extra_glsl + SHADOW_GLSL + OUTPUTS_GLSL).replace(SUN_BASIC, SUN_GAME)
