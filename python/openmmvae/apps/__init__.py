"""Applications built on the openmmvae API: the end-to-end demo and the systems, data generators and
analyses it and the examples use. Each runnable module has a command line:

    /usr/bin/python3 -m openmmvae.apps.demo --out demo [--quick]     # the main job, end to end
    /usr/bin/python3 -m openmmvae.apps.simulate --out ala-data       # alanine dipeptide training data
    /usr/bin/python3 -m openmmvae.apps.pipeline --out ala-vacuum     # VAE-MC from the structure alone
    /usr/bin/python3 -m openmmvae.apps.plots sweep OUT               # figures of an `openmm-vae sweep`

- mueller: the Mueller particle as OpenMM objects and its exact densities;
- alanine_dipeptide: alanine dipeptide built from internal coordinates, its System and torsions;
- ramachandran: conformational states, populations and basin transitions of alanine dipeptide;
- hybrid: samplers run for equal CPU time, and their transitions and population errors per CPU second.
"""
