"""claim-edge training / export toolkit (extra ``train``). Never imported by the runtime in edge/."""
