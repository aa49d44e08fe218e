// Depth cueing for large scenes: fragments fade towards the background colour with their
// distance from the camera, so the nearby layers stand out from the far end of a deep model.
//
// Custom uniforms (set by viz3d.render.shaders): fogNear, fogFar (view-space distances) and
// fogColor (the background colour).
//@@ fragment //VTK::Light::Impl
  {
    float dist = length(vertexVC.xyz);
    float fog = smoothstep(fogNear, fogFar, dist);
    fragOutput0.rgb = mix(fragOutput0.rgb, fogColor, 0.75 * fog);
  }
