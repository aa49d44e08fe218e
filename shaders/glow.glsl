// Activation glow: a Fresnel rim light whose colour and strength follow the fragment's own
// colour, so strongly activated (bright) neurons seem to glow while dim ones stay matte.
//
// Injected after VTK's lighting code (//VTK::Light::Impl), where `fragOutput0` holds the lit
// colour and `normalVCVSOutput` / `vertexVC` the view-space normal and position.
// Custom uniforms (set by viz3d.render.shaders): glowStrength, glowPower.
//@@ fragment //VTK::Light::Impl
  {
    vec3 viewDir = normalize(-vertexVC.xyz);
    float facing = abs(dot(normalize(normalVCVSOutput), viewDir));
    float rim = pow(1.0 - facing, glowPower);
    float luminance = dot(diffuseColor, vec3(0.299, 0.587, 0.114));
    vec3 glow = mix(diffuseColor, vec3(1.0), 0.35) * (0.35 + luminance);
    fragOutput0.rgb = fragOutput0.rgb + glowStrength * rim * glow;
  }
