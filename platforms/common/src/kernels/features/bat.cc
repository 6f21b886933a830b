// Feature kind "bat": bonds, angles and torsions over the bundle's tree, as NativeFeatureMap defines
// them: [r0-r1, r1-r2, bonds i-j of the free rows, angle r0-r1-r2, angles i-j-k, torsions i-j-k-l
// (minus the torsion of the row's reference row where that is another row), wrapped into [-pi, pi)].
// featurize/featurizeBackward are called by every thread of the work group.
//
// featureMapIndices (CommonVAEFeatureMapData): BAT_TERMS, per feature the atoms of its term (bond
// a-b, angle a-b-c at b, torsion a-b-c-d; unused slots -1); BAT_TORSION_REFERENCE, per torsion
// feature the feature of the torsion it is taken relative to (-1: none); BAT_ATOM_ENTRIES, per atom
// the start of its entries (NUM_ATOMS + 1 values), then the entries (feature f, 4*term+slot): where
// the atom enters feature f, as atom `slot` of the term of feature `term` (term == f, or f's
// reference torsion, which enters with a minus sign). The forward pass takes one thread per feature,
// the backward pass one thread per atom, so each atom's gradient is summed by one thread in a fixed order.

#define BAT_PI ((mixed) 3.14159265358979323846)

DEVICE mixed3 batAtom(GLOBAL const mixed* RESTRICT positions, int atom) {
    return make_mixed3(positions[3*atom], positions[3*atom+1], positions[3*atom+2]);
}

/** The bond length, angle or (absolute) torsion of feature f's term. */
DEVICE mixed batTerm(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, int f) {
    GLOBAL const int* atoms = featureMapIndices+BAT_TERMS+4*f;
    mixed3 a = batAtom(positions, atoms[0]), b = batAtom(positions, atoms[1]);
    if (f < BAT_FIRST_ANGLE) {
        mixed3 u = a-b;
        return sqrt(dot(u, u));
    }
    mixed3 c = batAtom(positions, atoms[2]);
    if (f < BAT_FIRST_TORSION) {
        mixed3 u = a-b, w = c-b, n = cross(u, w);
        return atan2(sqrt(dot(n, n)), dot(u, w));
    }
    mixed3 d = batAtom(positions, atoms[3]);
    mixed3 b1 = b-a, b2 = c-b, b3 = d-c;
    mixed3 n1 = cross(b1, b2), n2 = cross(b2, b3);
    return atan2(dot(b1, n2)*sqrt(dot(b2, b2)), dot(n1, n2));
}

/** The derivative of feature f's term with respect to its atom `slot`. */
DEVICE mixed3 batTermGradient(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, int f, int slot) {
    GLOBAL const int* atoms = featureMapIndices+BAT_TERMS+4*f;
    mixed3 a = batAtom(positions, atoms[0]), b = batAtom(positions, atoms[1]);
    if (f < BAT_FIRST_ANGLE) {
        mixed3 u = a-b;
        mixed3 direction = u/sqrt(dot(u, u));
        return (slot == 0 ? direction : -direction);
    }
    mixed3 c = batAtom(positions, atoms[2]);
    if (f < BAT_FIRST_TORSION) {
        // theta at b: dtheta/da = -(w^ - cos u^) / (|u| sin), dtheta/dc likewise, b takes minus both.
        mixed3 u = a-b, w = c-b;
        mixed lu = sqrt(dot(u, u)), lw = sqrt(dot(w, w));
        mixed3 uh = u/lu, wh = w/lw, n = cross(uh, wh);
        mixed cosine = dot(uh, wh), sine = sqrt(dot(n, n));
        mixed3 da = (cosine*uh-wh)/(lu*sine), dc = (cosine*wh-uh)/(lw*sine);
        return (slot == 0 ? da : slot == 2 ? dc : -(da+dc));
    }
    // Blondel & Karplus (1996) with F = p0 - p1, G = p1 - p2, H = p3 - p2.
    mixed3 d = batAtom(positions, atoms[3]);
    mixed3 fv = a-b, gv = b-c, hv = d-c;
    mixed3 av = cross(fv, gv), bv = cross(hv, gv);
    mixed a2 = dot(av, av), b2 = dot(bv, bv), lg = sqrt(dot(gv, gv));
    if (slot == 0)
        return (-lg/a2)*av;
    if (slot == 3)
        return (lg/b2)*bv;
    mixed3 along = (dot(fv, gv)/(a2*lg))*av-(dot(hv, gv)/(b2*lg))*bv;
    return (slot == 1 ? (lg/a2)*av+along : (-lg/b2)*bv-along);
}

DEVICE void featurize(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL mixed* RESTRICT features) {
    for (int f = LOCAL_ID; f < NUM_FEATURES; f += LOCAL_SIZE) {
        mixed value = batTerm(positions, featureMapIndices, f);
        if (f >= BAT_FIRST_TORSION) {
            int reference = featureMapIndices[BAT_TORSION_REFERENCE+f-BAT_FIRST_TORSION];
            if (reference >= 0)
                value -= batTerm(positions, featureMapIndices, reference);
            // As the bundle's bat_wrap: into [-pi, pi).
            value = fmod(value+BAT_PI, 2*BAT_PI);
            if (value < 0)
                value += 2*BAT_PI;
            value -= BAT_PI;
        }
        features[f] = value;
    }
}

DEVICE void featurizeBackward(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL const mixed* RESTRICT dFeatures, GLOBAL mixed* RESTRICT dPositions) {
    GLOBAL const int* entryStart = featureMapIndices+BAT_ATOM_ENTRIES;
    GLOBAL const int* entries = entryStart+NUM_ATOMS+1;
    for (int atom = LOCAL_ID; atom < NUM_ATOMS; atom += LOCAL_SIZE) {
        mixed3 gradient = make_mixed3(0, 0, 0);
        for (int e = entryStart[atom]; e < entryStart[atom+1]; e++) {
            int f = entries[2*e], term = entries[2*e+1]/4, slot = entries[2*e+1]%4;
            mixed g = (term == f ? dFeatures[f] : -dFeatures[f]);
            gradient += g*batTermGradient(positions, featureMapIndices, term, slot);
        }
        dPositions[3*atom] = gradient.x;
        dPositions[3*atom+1] = gradient.y;
        dPositions[3*atom+2] = gradient.z;
    }
}
