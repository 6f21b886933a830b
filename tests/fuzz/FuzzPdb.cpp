// PDB reader (trainer --topology): readPdb must return consistent per-atom lists and CONECT bonds
// between existing atoms, or throw std::runtime_error naming the file and line.

#include "FuzzHarness.h"
#include "Trajectory.h"

#include <stdexcept>

namespace VAEFuzz {

std::vector<std::string> seeds() {
    // The first residues of alanine dipeptide as openmm.app.PDBFile writes them (with CONECT records).
    return {
        "REMARK   1 CREATED WITH OPENMM\n"
        "ATOM      1 HH31 ACE A   1       2.000   1.000  -0.000  1.00  0.00           H  \n"
        "ATOM      2  CH3 ACE A   1       2.000   2.090   0.000  1.00  0.00           C  \n"
        "ATOM      3 HH32 ACE A   1       1.486   2.454   0.890  1.00  0.00           H  \n"
        "ATOM      4  C   ACE A   1       3.427   2.641  -0.000  1.00  0.00           C  \n"
        "ATOM      5  O   ACE A   1       4.391   1.877  -0.000  1.00  0.00           O  \n"
        "ATOM      6  N   ALA A   2       3.555   3.970  -0.000  1.00  0.00           N  \n"
        "HETATM    7 CL   CLA A   3       5.000   5.000   5.000  1.00  0.00          CL  \n"
        "TER       8      ALA A   2\n"
        "CONECT    1    2\n"
        "CONECT    2    1    3    4\n"
        "END\n",
        "ATOM      1  N   ALA A   1      -0.677  -1.230  -0.491  1.00  0.00\n"
        "ATOM      2  CA  ALA A   1      -0.001   0.064  -0.491  1.00  0.00\n"
        "ENDMDL\n"
        "ATOM      1  N   ALA A   1      -0.677  -1.230  -0.491  1.00  0.00\n",
    };
}

bool runOne(const std::string& input) {
    std::string path = scratchFile(input, ".pdb");
    VAEPlugin::PdbTopology t;
    try {
        t = VAEPlugin::readPdb(path);
    } catch (const std::runtime_error&) {
        return false;
    }
    size_t n = t.names.size();
    if (n == 0) bug("readPdb accepted a file without atoms");
    if (t.residues.size() != n || t.elements.size() != n || t.positions.size() != 3 * n) bug("readPdb: per-atom lists disagree");
    for (const auto& b : t.conect)
        if (b.first < 0 || b.second < 0 || b.first >= int(n) || b.second >= int(n)) bug("readPdb: a CONECT bond to a missing atom");
    return true;
}

} // namespace VAEFuzz
