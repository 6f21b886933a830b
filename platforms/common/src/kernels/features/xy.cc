// Feature kind "xy": x and y of the one selected atom (z untouched), for the 2-D model systems.
// featurize/featurizeBackward are called by every thread of the work group (see vaeCVForce.cc).

DEVICE void featurize(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL mixed* RESTRICT features) {
    if (LOCAL_ID == 0) {
        features[0] = positions[0];
        features[1] = positions[1];
    }
}

DEVICE void featurizeBackward(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL const mixed* RESTRICT dFeatures, GLOBAL mixed* RESTRICT dPositions) {
    for (int i = LOCAL_ID; i < 3*NUM_ATOMS; i += LOCAL_SIZE)
        dPositions[i] = (i < 2 ? dFeatures[i] : 0);
}
