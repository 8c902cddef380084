
BlogitsJ(5!^¾ilÀwÞª½—i3?Äfb¿t7o>ö
M¾ù±½¨‚?ù±¾