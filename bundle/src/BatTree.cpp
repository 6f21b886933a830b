#include "BatTree.h"

namespace VAEPlugin {

int BatTree::numFreeBonds() const {
    return 2 + static_cast<int>(freeRows().size());
}

std::vector<int> BatTree::freeRows() const {
    std::vector<int> free;
    for (size_t r = 0; r < rows.size(); r++)
        if (!constrained[r]) free.push_back(static_cast<int>(r));
    return free;
}

} // namespace VAEPlugin
