// Forward-pass pulse: a bright flash travels through the model and every layer lights up when
// the data reaches it.
//
// Each vertex carries `pulseArrival`, the animation time (0..1) at which the pulse passes it;
// viz3d.render.pulse maps that point array to this vertex attribute and moves `pulseTime`
// from 0 to 1 over the movie, so only one float uniform changes per frame.
// The colour change is made on the material colours before VTK's lighting, so lit surfaces,
// points drawn as spheres and tubes keep their shading. viz3d.render.pulse.pulse_rgba is the
// same formula in numpy (the CPU fallback): keep the two in step.
//
// Custom uniforms (set by viz3d.render.pulse): pulseTime, pulseWidth (time scale of the flash),
// pulseDim (brightness before the pulse arrives), pulseFlash (how far the flash mixes towards
// pulseColor), pulseColor, pulseAlphaFloor (opacity away from the flash: 1 for layers, 0 for
// the pulse tubes drawn over the edges), pulseAmbient and pulseDiffuse (the actor's own
// ambient/diffuse coefficients, which VTK folds into ambientColor/diffuseColor).
//@@ vertex //VTK::Color::Dec
in float pulseArrival;
out float pulseArrivalVSOutput;
//@@ vertex //VTK::Color::Impl
  pulseArrivalVSOutput = pulseArrival;
//@@ fragment //VTK::Color::Dec
in float pulseArrivalVSOutput;
//@@ fragment //VTK::Color::Impl
  {
    float pulseDt = (pulseTime - pulseArrivalVSOutput) / pulseWidth;
    float pulseReached = smoothstep(-1.0, 0.0, pulseDt);
    float pulseGlow = exp(-pulseDt * pulseDt);
    float pulseLevel = mix(pulseDim, 1.0, pulseReached);
    float pulseMix = pulseFlash * pulseGlow;
    ambientColor = mix(ambientColor * pulseLevel, pulseAmbient * pulseColor, pulseMix);
    diffuseColor = mix(diffuseColor * pulseLevel, pulseDiffuse * pulseColor, pulseMix);
    opacity = opacity * mix(pulseAlphaFloor, 1.0, pulseGlow);
  }
