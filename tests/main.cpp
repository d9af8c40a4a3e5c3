#define BOOST_TEST_MODULE tapeflow
#include <boost/test/unit_test.hpp>
