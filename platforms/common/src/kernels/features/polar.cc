// Feature kind "polar": r and theta = atan2(y, x) of the one selected atom in the xy plane (theta
// periodic). featurize/featurizeBackward are called by every thread of the work group.

DEVICE void featurize(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL mixed* RESTRICT features) {
    if (LOCAL_ID == 0) {
        mixed x = positions[0], y = positions[1];
        features[0] = sqrt(x*x+y*y);
        features[1] = atan2(y, x);
    }
}

DEVICE void featurizeBackward(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL const mixed* RESTRICT dFeatures, GLOBAL mixed* RESTRICT dPositions) {
    for (int i = LOCAL_ID; i < 3*NUM_ATOMS; i += LOCAL_SIZE) {
        mixed x = positions[0], y = positions[1], r2 = x*x+y*y, r = sqrt(r2);
        if (i == 0)
            dPositions[0] = dFeatures[0]*x/r - dFeatures[1]*y/r2;
        else if (i == 1)
            dPositions[1] = dFeatures[0]*y/r + dFeatures[1]*x/r2;
        else
            dPositions[i] = 0;
    }
}
